package train

import (
	"math"

	"github.com/crossin-lab/crossin/engine/tensor"
)

// headRows is how many positions share one pass over the LM head: enough
// for the GEMM to be efficient, few enough that the logits stay small.
const headRows = 192

// head computes, for every packed position with a label after the shift,
// the cross-entropy of the next token. With dh, it also writes into dh
// (packed rows, zero elsewhere) the gradient of Σ_r rowScale[r]·Σ_t CE_rt
// (r the batch row) with respect to the final hidden states. It returns
// the losses by padded position, [B·T] (zero where ignored).
func (n *Net) head(hN []float32, pk *packed, dh []float32, rowScale []float32) []float64 {
	d := n.Base.Dims
	Hd, V := d.Hidden, d.Vocab
	b := pk.b
	var rows []int // packed rows scored, in order
	for i, p := range pk.src {
		if pk.pos[i]+1 < b.T && b.Labels[p+1] != IgnoreIndex {
			rows = append(rows, i)
		}
	}
	loss := make([]float64, b.B*b.T)
	W := n.headW()
	// The logits chunk (tens of megabytes) lives as long as the Net: one
	// allocation per run instead of one per micro-batch.
	if need := min(headRows, len(rows)) * V; cap(n.headBuf) < need {
		n.headBuf = make([]float32, headRows*V)
	}
	logits := n.headBuf[:min(headRows, len(rows))*V]
	hs := n.arena.get(min(headRows, len(rows)) * Hd)
	out := n.arena.get(min(headRows, len(rows)) * Hd)
	for c0 := 0; c0 < len(rows); c0 += headRows {
		rs := rows[c0:min(len(rows), c0+headRows)]
		R := len(rs)
		for i, r := range rs {
			copy(hs[i*Hd:i*Hd+Hd], hN[r*Hd:r*Hd+Hd])
		}
		n.pool.matABt(logits, hs, W, R, Hd, V, false)
		n.pool.parallel(R, 1, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				r := pk.src[rs[i]] // padded position
				lg := logits[i*V : i*V+V]
				label := int(b.Labels[r+1])
				m := tensor.MaxRow(lg)
				target := lg[label]
				// One exp per logit: keep exp(v-m) in place and scale it
				// afterwards. Meanwhile the next row comes into L2 for
				// its MaxRow (the chunk is far larger than L2).
				var next []float32
				if i+1 < hi {
					next = logits[(i+1)*V : (i+2)*V]
				}
				s := tensor.ExpNegSumNext(lg, lg, m, next)
				lse := float64(m) + math.Log(s)
				loss[r] = lse - float64(target)
				if dh != nil {
					gscale := rowScale[r/b.T]
					tensor.Scale(lg, gscale/float32(s))
					lg[label] -= gscale
				}
			}
		})
		if dh != nil {
			if n.headMod != nil {
				// Trained LM head: dW += dlogitsᵀ·h, and dh from the current W.
				n.pool.matAtB(n.savedGrad(n.headMod), logits[:R*V], hs[:R*Hd], R, V, Hd, true)
			}
			if n.headT != nil {
				n.pool.matABt(out, logits, n.headT, R, V, Hd, false)
			} else {
				n.pool.matAB(out, logits, W, R, V, Hd, false)
			}
			for i, r := range rs {
				copy(dh[r*Hd:r*Hd+Hd], out[i*Hd:i*Hd+Hd])
			}
		}
	}
	return loss
}
