package train

import (
	"math"

	"github.com/crossin-lab/crossin/engine/tensor"
)

// gatherHead copies head h of x ([rows, heads*D], rows r0..r0+T) into dst [T, D].
func gatherHead(dst, x []float32, r0, T, heads, h, D int) {
	for t := 0; t < T; t++ {
		o := (r0+t)*heads*D + h*D
		copy(dst[t*D:t*D+D], x[o:o+D])
	}
}

// scatterHead writes src [T, D] into head h of x.
func scatterHead(x, src []float32, r0, T, heads, h, D int) {
	for t := 0; t < T; t++ {
		o := (r0+t)*heads*D + h*D
		copy(x[o:o+D], src[t*D:t*D+D])
	}
}

// attention computes causal grouped-query attention with the padding mask
// and, with Dims.SlidingWindow, Mistral's window (position i sees keys
// i-W+1..i), over each batch row's packed positions, writing out [rows,
// Heads*D] and the probabilities p (packed.probs). Each (row, head) is
// three GEMMs: S = QKᵀ, softmax, O = PV. The backward pass needs no window
// of its own: masked probabilities are 0.
func (n *Net) attention(out, p, q, k, v []float32, pk *packed) {
	d := n.Base.Dims
	D, H, KV := d.HeadDim, d.Heads, d.KVHeads
	b := pk.b
	group := H / KV
	scale := float32(1 / math.Sqrt(float64(D)))
	inner := n.pool.tensor().Split(b.B * H) // products inside the loop
	n.pool.parallel(b.B*H, 1, func(lo, hi int) {
		buf := headScratch(pk, lo/H, (hi-1)/H, 4*D, 0)
		defer headPool.Put(buf)
		for bh := lo; bh < hi; bh++ {
			bi, h := bh/H, bh%H
			T, r0 := pk.rowLen(bi), pk.start[bi]
			if T == 0 {
				continue
			}
			qh, kh, vh, oh := buf[:T*D], buf[T*D:2*T*D], buf[2*T*D:3*T*D], buf[3*T*D:4*T*D]
			kvh := h / group
			gatherHead(qh, q, r0, T, H, h, D)
			gatherHead(kh, k, r0, T, KV, kvh, D)
			gatherHead(vh, v, r0, T, KV, kvh, D)
			P := pk.probs(p, H, bi, h)
			inner.MatMulNT(P, qh, kh, T, T, D, false)
			mask := b.Mask[bi*b.T : bi*b.T+T]
			for i := 0; i < T; i++ {
				pi := P[i*T : i*T+T]
				j0 := 0
				if W := d.SlidingWindow; W > 0 && i-W+1 > 0 {
					j0 = i - W + 1
					clear(pi[:j0])
				}
				m := float32(math.Inf(-1))
				for j := j0; j <= i; j++ {
					if mask[j] != 0 {
						pi[j] *= scale
						m = max(m, pi[j])
					}
				}
				var sum float64
				for j := j0; j <= i; j++ {
					if mask[j] != 0 {
						e := math.Exp(float64(pi[j] - m))
						pi[j] = float32(e)
						sum += e
					} else {
						pi[j] = 0
					}
				}
				if sum == 0 {
					// A padding query whose window holds only padding: it
					// feeds no loss; zeros keep NaN out of the gradients.
					clear(pi)
					continue
				}
				inv := float32(1 / sum)
				for j := j0; j <= i; j++ {
					pi[j] *= inv
				}
				clear(pi[i+1:])
			}
			inner.MatMulNN(oh[:T*D], P, vh[:T*D], T, D, T, false)
			scatterHead(out, oh, r0, T, H, h, D)
		}
	})
}

// headPool keeps the per-head scratch of attention and attentionBack: a
// task's gathered heads and score gradients (the latter T² values, a
// quarter of a megabyte at T = 256) were otherwise fresh, zeroed memory in
// every task of every layer and step.
var headPool tensor.Pool

// headScratch returns, from headPool, scratch for the batch rows b0..b1 of
// a task: perRow·T + sq·T² values for the longest of them. Its contents are
// garbage.
func headScratch(pk *packed, b0, b1, perRow, sq int) []float32 {
	need := 0
	for bi := b0; bi <= b1; bi++ {
		T := pk.rowLen(bi)
		need = max(need, perRow*T+sq*T*T)
	}
	return headPool.Get(need)
}

// attentionBack turns dOut into dq, dk, dv (all set, not accumulated). Work
// is split by (batch row, KV head) so each dk/dv element has one writer,
// and the heads of a group are added in a fixed order.
func (n *Net) attentionBack(dq, dk, dv, dOut, p, q, k, v []float32, pk *packed) {
	d := n.Base.Dims
	D, H, KV := d.HeadDim, d.Heads, d.KVHeads
	b := pk.b
	group := H / KV
	scale := float32(1 / math.Sqrt(float64(D)))
	inner := n.pool.tensor().Split(b.B * KV) // products inside the loop
	n.pool.parallel(b.B*KV, 1, func(lo, hi int) {
		buf := headScratch(pk, lo/KV, (hi-1)/KV, 7*D, 1)
		defer headPool.Put(buf)
		for bk := lo; bk < hi; bk++ {
			bi, kvh := bk/KV, bk%KV
			T, r0 := pk.rowLen(bi), pk.start[bi]
			if T == 0 {
				continue
			}
			hd := buf[:7*T*D]
			qh, kh, vh, doh := hd[:T*D], hd[T*D:2*T*D], hd[2*T*D:3*T*D], hd[3*T*D:4*T*D]
			dqh, dkh, dvh := hd[4*T*D:5*T*D], hd[5*T*D:6*T*D], hd[6*T*D:]
			dP := buf[7*T*D : 7*T*D+T*T]
			gatherHead(kh, k, r0, T, KV, kvh, D)
			gatherHead(vh, v, r0, T, KV, kvh, D)
			clear(dkh)
			clear(dvh)
			for h := kvh * group; h < (kvh+1)*group; h++ {
				P := pk.probs(p, H, bi, h)
				gatherHead(doh, dOut, r0, T, H, h, D)
				gatherHead(qh, q, r0, T, H, h, D)
				inner.MatMulTN(dvh, P, doh, T, D, T, true)
				inner.MatMulNT(dP, doh, vh, T, T, D, false)
				for i := 0; i < T; i++ {
					pi, di := P[i*T:i*T+T], dP[i*T:i*T+T]
					var s float64
					for j := 0; j <= i; j++ {
						s += float64(pi[j]) * float64(di[j])
					}
					sf := float32(s)
					for j := 0; j <= i; j++ {
						di[j] = pi[j] * (di[j] - sf) * scale
					}
					clear(di[i+1:])
				}
				inner.MatMulNN(dqh, dP, kh, T, D, T, false)
				scatterHead(dq, dqh, r0, T, H, h, D)
				inner.MatMulTN(dkh, dP, qh, T, D, T, true)
			}
			scatterHead(dk, dkh, r0, T, KV, kvh, D)
			scatterHead(dv, dvh, r0, T, KV, kvh, D)
		}
	})
}
