package train

import "runtime"

// arena hands out the float32 buffers of one pass from a slab reused
// across passes: a micro-batch's activations and gradients are hundreds of
// slices of up to megabytes, and allocating them fresh cost a tenth of a
// training step in the garbage collector and in zeroing. Buffers are valid
// until the next reset; a Net serves one pass at a time.
type arena struct {
	slab []float32
	off  int
	need int // the largest pass so far, for the next reset
	more int // floats allocated outside the slab in this pass
}

// reset starts a pass: the slab grows to the largest pass seen, with an
// eighth to spare so that slowly longer batches do not reallocate it each
// time. Before it grows, the old slab and the last pass's buffers from
// outside it (all garbage by now: a pass's tape dies with the pass) are
// collected, so that the new slab reuses their memory instead of adding
// to it: for SmolLM2 a pass is about 1.4 GB, and without the collection
// the first two passes' memory would be live at once.
func (a *arena) reset() {
	a.need = max(a.need, a.off+a.more)
	if len(a.slab) < a.need {
		a.slab = nil
		runtime.GC()
		a.slab = make([]float32, a.need+a.need/8)
	}
	a.off, a.more = 0, 0
}

// get returns n floats with stale contents: for outputs that are written
// in full before they are read.
func (a *arena) get(n int) []float32 {
	if a.off+n > len(a.slab) {
		a.more += n
		return make([]float32, n)
	}
	s := a.slab[a.off : a.off+n : a.off+n]
	a.off += n
	return s
}

// zero returns n zeroed floats: for sums and sparse writes.
func (a *arena) zero(n int) []float32 {
	s := a.get(n)
	clear(s)
	return s
}
