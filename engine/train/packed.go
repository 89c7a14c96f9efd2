package train

import "runtime"

// packed is the set of batch positions a pass computes, as rows of one
// matrix: each batch row's positions from 0 up to the last one that is
// attended or scored, in batch order. A right-padded batch keeps only its
// tokens (and a padding position whose next label counts, if any).
//
// Why dropping the rest changes no bit. A dropped position is masked, so
// no kept query attends to it, and nothing after it in its row is kept, so
// its own output feeds no loss: its gradient is exactly zero and every
// product that reduces over positions (the LoRA weight gradients, P·V)
// only loses terms of ±0. On the AVX-512 path, one FMA chain per element
// in order, those terms leave the sums unchanged; on the AVX2 and generic
// paths, whose reduction tree depends on K, the shorter K rounds
// differently, which is why CodeVersion changed with this layout.
// Everything row-wise (projections, norms, RoPE, the LM head) computes
// the same bits per row as the padded layout, since a product's rows never
// depend on each other (package tensor).
//
// Dropout still draws its masks over the padded layout ([B·T, in] per
// projection, in order), skipping the dropped rows' values, so the kept
// rows get the masks they always got.
type packed struct {
	b     *Batch
	n     int   // rows
	start []int // [B+1]: batch row r is rows start[r]..start[r+1]-1
	src   []int // [n]: padded index r*T+t of each row
	pos   []int // [n]: position t of each row
}

// packBatch keeps each row's positions up to the last one with a token
// (mask 1) or whose next label counts.
func packBatch(b *Batch) *packed {
	return packRows(b, func(r int) int {
		L := 0
		for t := 0; t < b.T; t++ {
			i := r*b.T + t
			if b.Mask[i] != 0 || (t+1 < b.T && b.Labels[i+1] != IgnoreIndex) {
				L = t + 1
			}
		}
		return L
	})
}

// packAll keeps every position: the padded layout itself (Logits reports
// every position, padding included).
func packAll(b *Batch) *packed { return packRows(b, func(int) int { return b.T }) }

func packRows(b *Batch, length func(r int) int) *packed {
	pk := &packed{b: b, start: make([]int, b.B+1)}
	for r := 0; r < b.B; r++ {
		L := length(r)
		for t := 0; t < L; t++ {
			pk.src = append(pk.src, r*b.T+t)
			pk.pos = append(pk.pos, t)
		}
		pk.start[r+1] = len(pk.src)
	}
	pk.n = len(pk.src)
	return pk
}

// rowLen is the number of kept positions of batch row r.
func (pk *packed) rowLen(r int) int { return pk.start[r+1] - pk.start[r] }

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

// squares is Σ_r L_r², the size of one head's attention probabilities
// over all rows.
func (pk *packed) squares() int {
	s := 0
	for r := 0; r < pk.b.B; r++ {
		s += pk.rowLen(r) * pk.rowLen(r)
	}
	return s
}

// probs returns row r's attention probabilities of head h, [L, L], in p
// laid out row by row, each row's heads together.
func (pk *packed) probs(p []float32, heads, r, h int) []float32 {
	off := 0
	for q := 0; q < r; q++ {
		off += heads * pk.rowLen(q) * pk.rowLen(q)
	}
	L := pk.rowLen(r)
	off += h * L * L
	return p[off : off+L*L]
}
