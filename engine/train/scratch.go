package train

// scratch hands out the float32 buffers of one pass (forward, or forward
// and backward) from one slab that lives as long as the Net. A training
// step allocates about a hundred activation and gradient buffers, tens of
// megabytes each at a 256-token batch; taking them from the garbage
// collector cleared fresh memory, faulted its pages in and collected it
// again on every micro-batch. The slab grows to the largest pass seen, so
// after the first long batch a pass allocates nothing.
//
// Buffers from get hold garbage and must be written in full before they
// are read; zeros clears them, for accumulators. reset ends a pass: every
// buffer handed out since the last reset is dead. A Net therefore runs one
// pass at a time (as the training loop does).
type scratch struct {
	slab []float32
	off  int // floats of slab handed out in this pass
	over int // floats this pass wanted beyond the slab (heap-allocated)
}

func (s *scratch) get(n int) []float32 {
	if s.off+n <= len(s.slab) {
		b := s.slab[s.off : s.off+n : s.off+n]
		s.off += n
		return b
	}
	s.over += n
	return make([]float32, n)
}

func (s *scratch) zeros(n int) []float32 {
	b := s.get(n)
	clear(b)
	return b
}

// reset starts a pass; if the last one outgrew the slab, the slab grows
// to what it needed.
func (s *scratch) reset() {
	if s.over > 0 {
		s.slab = nil // let the old slab go before the new one is made
		s.slab = make([]float32, s.off+s.over)
	}
	s.off, s.over = 0, 0
}
