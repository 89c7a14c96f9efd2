package train

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
