package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/crossin-lab/crossin/engine/lora"
	"github.com/crossin-lab/crossin/engine/tensor"
)

// Net runs the training forward and backward pass of a frozen Base with a
// trainable LoRA adapter. The forward pass is written for training (it keeps
// the activations the backward pass needs) and computes exactly what the
// inference forward computes.
type Net struct {
	Base    *Base
	Adapter *lora.Adapter
	// Grads holds one gradient per adapter tensor, in Params order.
	Grads [][]float32

	pool    pool
	scale   float32
	dropout float64
	pairs   [][]*lora.Pair // [layer][module index]
	gradIdx map[*lora.Pair]int
	cos     [][]float32 // [position][HeadDim/2]
	sin     [][]float32
	// wt caches the transposes ([in, out]) of the frozen projections and
	// the LM head: the input gradient dx = dy·W then runs on the A·Bᵀ GEMM
	// without transposing W on every call. It costs one extra copy of the
	// weights, built lazily on the first backward pass.
	wt     [][7][]float32
	headT  []float32
	wtOnce sync.Once
	// head and embed are the trained copies (modules_to_save), or nil.
	headMod, embedMod *lora.Full
	savedIdx          []int // Grads index of each Adapter.Saved
}

func (n *Net) transposes() {
	n.wtOnce.Do(func() {
		d := n.Base.Dims
		n.wt = make([][7][]float32, d.Layers)
		n.pool.parallel(d.Layers*len(lora.Modules)+1, 1, func(lo, hi int) {
			for t := lo; t < hi; t++ {
				if t == d.Layers*len(lora.Modules) {
					if n.headMod != nil {
						continue // trained: it changes every step
					}
					n.headT = make([]float32, d.Vocab*d.Hidden)
					tensor.Transpose(n.headT, n.Base.LMHead, d.Vocab, d.Hidden)
					continue
				}
				l, mi := t/len(lora.Modules), t%len(lora.Modules)
				in, out := d.Shape(lora.Modules[mi])
				w := make([]float32, in*out)
				tensor.Transpose(w, n.Base.Layers[l].weight(lora.Modules[mi]), out, in)
				n.wt[l][mi] = w
			}
		})
	})
}

// NewNet checks that the adapter fits the base model and allocates gradients.
// threads bounds the goroutines used (0 = GOMAXPROCS); it never changes a
// result.
func NewNet(base *Base, ad *lora.Adapter, threads int) (*Net, error) {
	if err := base.Validate(); err != nil {
		return nil, err
	}
	if err := ad.Config.Validate(); err != nil {
		return nil, err
	}
	n := &Net{Base: base, Adapter: ad, pool: pool{threads}, gradIdx: map[*lora.Pair]int{}}
	n.scale = float32(ad.Config.Scale())
	n.dropout = ad.Config.Dropout
	n.pairs = make([][]*lora.Pair, base.Dims.Layers)
	for i := range n.pairs {
		n.pairs[i] = make([]*lora.Pair, len(lora.Modules))
	}
	r := ad.Config.R
	for _, p := range ad.Pairs {
		if p.Layer < 0 || p.Layer >= base.Dims.Layers {
			return nil, fmt.Errorf("train: adapter has layer %d; the model has %d layers", p.Layer, base.Dims.Layers)
		}
		in, out := base.Shape(p.Module)
		if p.In != in || p.Out != out || len(p.A) != r*in || len(p.B) != out*r {
			return nil, fmt.Errorf("train: adapter layer %d %s is [%d,%d]×[%d,%d]; the model needs A [%d,%d], B [%d,%d]",
				p.Layer, p.Module, r, p.In, p.Out, r, r, in, out, r)
		}
		n.pairs[p.Layer][slices.Index(lora.Modules, p.Module)] = p
		n.gradIdx[p] = len(n.Grads)
		n.Grads = append(n.Grads, make([]float32, len(p.A)), make([]float32, len(p.B)))
	}
	if len(ad.Saved) != len(ad.Config.ModulesToSave) {
		return nil, fmt.Errorf("train: modules_to_save %v but the adapter holds %d trained modules", ad.Config.ModulesToSave, len(ad.Saved))
	}
	for _, f := range ad.Saved {
		if f.Rows != base.Vocab || f.Cols != base.Hidden || len(f.W) != f.Rows*f.Cols {
			return nil, fmt.Errorf("train: trained %s is [%d, %d]; the model needs [%d, %d]", f.Module, f.Rows, f.Cols, base.Vocab, base.Hidden)
		}
		if &base.Embed[0] == &base.LMHead[0] {
			return nil, fmt.Errorf("train: modules_to_save %s on a model with tied embeddings is not supported (the LM head and the embedding share one tensor)", f.Module)
		}
		switch f.Module {
		case "lm_head":
			n.headMod = f
		case "embed_tokens":
			n.embedMod = f
		}
		n.savedIdx = append(n.savedIdx, len(n.Grads))
		n.Grads = append(n.Grads, make([]float32, len(f.W)))
	}
	return n, nil
}

// headW and embedW are the LM head and embedding in use: the trained copies
// when they are modules_to_save, else the frozen base weights.
func (n *Net) headW() []float32 {
	if n.headMod != nil {
		return n.headMod.W
	}
	return n.Base.LMHead
}

func (n *Net) embedW() []float32 {
	if n.embedMod != nil {
		return n.embedMod.W
	}
	return n.Base.Embed
}

func (n *Net) savedGrad(f *lora.Full) []float32 {
	for i, g := range n.Adapter.Saved {
		if g == f {
			return n.Grads[n.savedIdx[i]]
		}
	}
	return nil
}

// Params returns the trainable tensors (A then B of each pair, in adapter
// order), aligned with Grads.
func (n *Net) Params() [][]float32 {
	var ps [][]float32
	for _, p := range n.Adapter.Pairs {
		ps = append(ps, p.A, p.B)
	}
	for _, f := range n.Adapter.Saved {
		ps = append(ps, f.W)
	}
	return ps
}

// ZeroGrads clears the gradients (optimizer.zero_grad).
func (n *Net) ZeroGrads() {
	for _, g := range n.Grads {
		clear(g)
	}
}

func (n *Net) ropeTables(T int) {
	half := n.Base.HeadDim / 2
	for t := len(n.cos); t < T; t++ {
		c := make([]float32, half)
		s := make([]float32, half)
		for i, f := range n.Base.InvFreq {
			a := float32(t) * f
			c[i] = float32(math.Cos(float64(a)))
			s[i] = float32(math.Sin(float64(a)))
		}
		n.cos = append(n.cos, c)
		n.sin = append(n.sin, s)
	}
}

// linTape keeps what a LoRA-adapted projection needs for its backward pass.
type linTape struct {
	x     []float32 // input (shared with the other projections of the same input)
	noise []float32 // dropout multipliers (nil without dropout)
	xd    []float32 // input after dropout (x itself without dropout)
	z     []float32 // xd·Aᵀ, [N, r]
}

type layerTape struct {
	xIn, h1, r1 []float32
	q, k, v     []float32 // q and k after RoPE
	p           []float32 // attention probabilities [B, Heads, T, T]
	att         []float32 // attention output before o_proj
	xMid        []float32
	h2, r2      []float32
	g, u, a     []float32
	lin         [7]linTape
}

type tape struct {
	b      *Batch
	layers []layerTape
	xOut   []float32 // residual stream after the last layer
	hN, rN []float32 // final norm output and its 1/rms
}

// rmsNorm is LlamaRMSNorm: y = w * (x / sqrt(mean(x²)+eps)), float32 values
// with the mean accumulated in float64. It returns 1/rms per row.
func (n *Net) rmsNorm(y, x, w []float32, N int) []float32 {
	H := len(w)
	rs := make([]float32, N)
	eps := float32(n.Base.NormEps)
	n.pool.parallel(N, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xi := x[i*H : i*H+H]
			var s float64
			for _, v := range xi {
				s += float64(v) * float64(v)
			}
			r := float32(1 / math.Sqrt(float64(float32(s/float64(H))+eps)))
			rs[i] = r
			yi := y[i*H : i*H+H]
			for j, v := range xi {
				yi[j] = w[j] * (v * r)
			}
		}
	})
	return rs
}

// rmsNormBack adds to dx the gradient through y = w*(x*r).
func (n *Net) rmsNormBack(dx, dy, x, w, rs []float32, N int) {
	H := len(w)
	n.pool.parallel(N, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xi, dyi, dxi := x[i*H:i*H+H], dy[i*H:i*H+H], dx[i*H:i*H+H]
			r := float64(rs[i])
			var s float64
			for j := range xi {
				s += float64(dyi[j]) * float64(w[j]) * float64(xi[j])
			}
			c := s * r * r * r / float64(H)
			for j := range xi {
				dxi[j] += float32(float64(dyi[j])*float64(w[j])*r - float64(xi[j])*c)
			}
		}
	})
}

// dropSeed derives the dropout stream of one projection in one micro-batch.
func dropSeed(seed uint64, layer, module int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(layer)<<8|uint64(module)+1))
}

// linear computes out = x Wᵀ + scale·(drop(x) Aᵀ) Bᵀ for module mi of layer l.
func (n *Net) linear(out, x []float32, N, l, mi int, b *Batch, lt *linTape, train bool) {
	in, o := n.Base.Shape(lora.Modules[mi])
	n.pool.matABt(out, x, n.Base.Layers[l].weight(lora.Modules[mi]), N, in, o, false)
	if bias := n.Base.Layers[l].Bias[mi]; bias != nil {
		for i := 0; i < N; i++ {
			row := out[i*o : i*o+o]
			for j, bv := range bias {
				row[j] += bv
			}
		}
	}
	p := n.pairs[l][mi]
	if p == nil {
		return
	}
	r := n.Adapter.Config.R
	xd := x
	var noise []float32
	if n.dropout > 0 && train {
		// torch: noise = bernoulli(1-p) / (1-p); out = x * noise.
		rng := dropSeed(b.DropSeed, l, mi)
		keep := float32(1) / float32(1-n.dropout)
		noise = make([]float32, len(x))
		xd = make([]float32, len(x))
		for i := range x {
			if rng.Float64() >= n.dropout {
				noise[i] = keep
				xd[i] = x[i] * keep
			}
		}
	}
	z := make([]float32, N*r)
	n.pool.matABt(z, xd, p.A, N, in, r, false)
	tmp := make([]float32, N*o)
	n.pool.matABt(tmp, z, p.B, N, r, o, false)
	for i, v := range tmp {
		out[i] += v * n.scale
	}
	if lt != nil {
		*lt = linTape{x: x, noise: noise, xd: xd, z: z}
	}
}

// linearBack adds dy·W to dx and accumulates the LoRA gradients.
func (n *Net) linearBack(dx, dy []float32, N, l, mi int, lt *linTape) {
	in, o := n.Base.Shape(lora.Modules[mi])
	n.pool.matABt(dx, dy, n.wt[l][mi], N, o, in, true)
	p := n.pairs[l][mi]
	if p == nil {
		return
	}
	r := n.Adapter.Config.R
	gi := n.gradIdx[p]
	gA, gB := n.Grads[gi], n.Grads[gi+1]
	dys := make([]float32, len(dy))
	for i, v := range dy {
		dys[i] = v * n.scale
	}
	n.pool.matAtB(gB, dys, lt.z, N, o, r, true)
	dz := make([]float32, N*r)
	n.pool.matAB(dz, dys, p.B, N, o, r, false)
	n.pool.matAtB(gA, dz, lt.xd, N, r, in, true)
	dxd := make([]float32, N*in)
	n.pool.matAB(dxd, dz, p.A, N, r, in, false)
	if lt.noise != nil {
		for i := range dxd {
			dxd[i] *= lt.noise[i]
		}
	}
	for i, v := range dxd {
		dx[i] += v
	}
}

// rope rotates the heads of x ([N, heads*D]) in place, position t = row%T.
func (n *Net) rope(x []float32, N, T, heads int, inverse bool) {
	if r := n.Base.Rope; r != nil {
		pos := make([]int, N)
		for i := range pos {
			pos[i] = i % T
		}
		if inverse {
			r.ApplyInverse(x, N, heads, pos)
		} else {
			r.Apply(x, N, heads, pos)
		}
		return
	}
	D := n.Base.HeadDim
	half := D / 2
	n.pool.parallel(N, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			c, s := n.cos[i%T], n.sin[i%T]
			for h := 0; h < heads; h++ {
				v := x[i*heads*D+h*D : i*heads*D+h*D+D]
				for j := 0; j < half; j++ {
					x1, x2 := v[j], v[j+half]
					if inverse {
						v[j] = x1*c[j] + x2*s[j]
						v[j+half] = x2*c[j] - x1*s[j]
					} else {
						v[j] = x1*c[j] - x2*s[j]
						v[j+half] = x2*c[j] + x1*s[j]
					}
				}
			}
		}
	})
}

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

// attention computes causal grouped-query attention with the padding mask,
// writing out [N, Heads*D] and the probabilities p [B, Heads, T, T]. Each
// (row, head) is three GEMMs: S = QKᵀ, softmax, O = PV.
func (n *Net) attention(out, p, q, k, v []float32, b *Batch) {
	d := n.Base.Dims
	D, H, KV, T := d.HeadDim, d.Heads, d.KVHeads, b.T
	group := H / KV
	scale := float32(1 / math.Sqrt(float64(D)))
	n.pool.parallel(b.B*H, 1, func(lo, hi int) {
		qh := make([]float32, T*D)
		kh := make([]float32, T*D)
		vh := make([]float32, T*D)
		oh := make([]float32, T*D)
		for bh := lo; bh < hi; bh++ {
			bi, h := bh/H, bh%H
			kvh := h / group
			gatherHead(qh, q, bi*T, T, H, h, D)
			gatherHead(kh, k, bi*T, T, KV, kvh, D)
			gatherHead(vh, v, bi*T, T, KV, kvh, D)
			P := p[bh*T*T : (bh+1)*T*T]
			tensor.MatMulNT(P, qh, kh, T, T, D, false)
			mask := b.Mask[bi*T : bi*T+T]
			for i := 0; i < T; i++ {
				pi := P[i*T : i*T+T]
				m := float32(math.Inf(-1))
				for j := 0; j <= i; j++ {
					if mask[j] != 0 {
						pi[j] *= scale
						m = max(m, pi[j])
					}
				}
				var sum float64
				for j := 0; j <= i; j++ {
					if mask[j] != 0 {
						e := math.Exp(float64(pi[j] - m))
						pi[j] = float32(e)
						sum += e
					} else {
						pi[j] = 0
					}
				}
				inv := float32(1 / sum)
				for j := 0; j <= i; j++ {
					pi[j] *= inv
				}
				clear(pi[i+1:])
			}
			tensor.MatMulNN(oh, P, vh, T, D, T, false)
			scatterHead(out, oh, bi*T, T, H, h, D)
		}
	})
}

// attentionBack turns dOut into dq, dk, dv (all set, not accumulated). Work
// is split by (batch row, KV head) so each dk/dv element has one writer,
// and the heads of a group are added in a fixed order.
func (n *Net) attentionBack(dq, dk, dv, dOut, p, q, k, v []float32, b *Batch) {
	d := n.Base.Dims
	D, H, KV, T := d.HeadDim, d.Heads, d.KVHeads, b.T
	group := H / KV
	scale := float32(1 / math.Sqrt(float64(D)))
	n.pool.parallel(b.B*KV, 1, func(lo, hi int) {
		qh := make([]float32, T*D)
		kh := make([]float32, T*D)
		vh := make([]float32, T*D)
		doh := make([]float32, T*D)
		dqh := make([]float32, T*D)
		dkh := make([]float32, T*D)
		dvh := make([]float32, T*D)
		dP := make([]float32, T*T)
		for bk := lo; bk < hi; bk++ {
			bi, kvh := bk/KV, bk%KV
			gatherHead(kh, k, bi*T, T, KV, kvh, D)
			gatherHead(vh, v, bi*T, T, KV, kvh, D)
			clear(dkh)
			clear(dvh)
			for h := kvh * group; h < (kvh+1)*group; h++ {
				P := p[(bi*H+h)*T*T : (bi*H+h+1)*T*T]
				gatherHead(doh, dOut, bi*T, T, H, h, D)
				gatherHead(qh, q, bi*T, T, H, h, D)
				tensor.MatMulTN(dvh, P, doh, T, D, T, true)
				tensor.MatMulNT(dP, doh, vh, T, T, D, false)
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
				tensor.MatMulNN(dqh, dP, kh, T, D, T, false)
				scatterHead(dq, dqh, bi*T, T, H, h, D)
				tensor.MatMulTN(dkh, dP, qh, T, D, T, true)
			}
			scatterHead(dk, dkh, bi*T, T, KV, kvh, D)
			scatterHead(dv, dvh, bi*T, T, KV, kvh, D)
		}
	})
}

// forward runs the decoder over a batch and returns the tape (activations
// for backward) ending at the final norm. train applies LoRA dropout
// (module.train() in PyTorch); evaluation runs without it.
func (n *Net) forward(b *Batch, train bool) *tape {
	d := n.Base.Dims
	N, Hd := b.B*b.T, d.Hidden
	qd, kvd := d.Heads*d.HeadDim, d.KVHeads*d.HeadDim
	x := make([]float32, N*Hd)
	for i, id := range b.IDs {
		copy(x[i*Hd:i*Hd+Hd], n.embedW()[int(id)*Hd:int(id)*Hd+Hd])
	}
	tp := &tape{b: b, layers: make([]layerTape, d.Layers)}
	if n.Base.Rope == nil {
		n.ropeTables(b.T)
	}
	for l := 0; l < d.Layers; l++ {
		L := &n.Base.Layers[l]
		lt := &tp.layers[l]
		lt.xIn = x
		lt.h1 = make([]float32, N*Hd)
		lt.r1 = n.rmsNorm(lt.h1, x, L.AttnNorm, N)
		lt.q = make([]float32, N*qd)
		lt.k = make([]float32, N*kvd)
		lt.v = make([]float32, N*kvd)
		n.linear(lt.q, lt.h1, N, l, 0, b, &lt.lin[0], train)
		n.linear(lt.k, lt.h1, N, l, 1, b, &lt.lin[1], train)
		n.linear(lt.v, lt.h1, N, l, 2, b, &lt.lin[2], train)
		n.rope(lt.q, N, b.T, d.Heads, false)
		n.rope(lt.k, N, b.T, d.KVHeads, false)
		lt.att = make([]float32, N*qd)
		lt.p = make([]float32, b.B*d.Heads*b.T*b.T)
		n.attention(lt.att, lt.p, lt.q, lt.k, lt.v, b)
		o := make([]float32, N*Hd)
		n.linear(o, lt.att, N, l, 3, b, &lt.lin[3], train)
		lt.xMid = make([]float32, N*Hd)
		for i := range o {
			lt.xMid[i] = x[i] + o[i]
		}
		lt.h2 = make([]float32, N*Hd)
		lt.r2 = n.rmsNorm(lt.h2, lt.xMid, L.MLPNorm, N)
		lt.g = make([]float32, N*d.Inter)
		lt.u = make([]float32, N*d.Inter)
		n.linear(lt.g, lt.h2, N, l, 4, b, &lt.lin[4], train)
		n.linear(lt.u, lt.h2, N, l, 5, b, &lt.lin[5], train)
		lt.a = make([]float32, N*d.Inter)
		for i, g := range lt.g {
			lt.a[i] = silu(g) * lt.u[i]
		}
		dn := make([]float32, N*Hd)
		n.linear(dn, lt.a, N, l, 6, b, &lt.lin[6], train)
		x = make([]float32, N*Hd)
		for i := range dn {
			x[i] = lt.xMid[i] + dn[i]
		}
	}
	tp.xOut = x
	tp.hN = make([]float32, N*Hd)
	tp.rN = n.rmsNorm(tp.hN, x, n.Base.FinalNorm, N)
	return tp
}

// silu is x·sigmoid(x) in float32, as torch computes it (x / (1 + exp(-x))).
func silu(x float32) float32 {
	return x / (1 + float32(math.Exp(float64(-x))))
}

// headRows is how many positions share one pass over the LM head: enough
// for the GEMM to be efficient, few enough that the logits stay small.
const headRows = 192

// head computes, for every position with a label after the shift, the
// cross-entropy of the next token. With dh, it also writes into dh the
// gradient of gscale·Σ CE with respect to the final hidden states. It
// returns the per-position losses (zero where ignored).
func (n *Net) head(hN []float32, b *Batch, dh []float32, gscale float32) []float64 {
	d := n.Base.Dims
	Hd, V := d.Hidden, d.Vocab
	var rows []int
	for r := 0; r < b.B; r++ {
		for t := 0; t+1 < b.T; t++ {
			if b.Labels[r*b.T+t+1] != IgnoreIndex {
				rows = append(rows, r*b.T+t)
			}
		}
	}
	loss := make([]float64, b.B*b.T)
	W := n.headW()
	logits := make([]float32, min(headRows, len(rows))*V)
	hs := make([]float32, min(headRows, len(rows))*Hd)
	out := make([]float32, min(headRows, len(rows))*Hd)
	for c0 := 0; c0 < len(rows); c0 += headRows {
		rs := rows[c0:min(len(rows), c0+headRows)]
		R := len(rs)
		for i, r := range rs {
			copy(hs[i*Hd:i*Hd+Hd], hN[r*Hd:r*Hd+Hd])
		}
		n.pool.matABt(logits, hs, W, R, Hd, V, false)
		n.pool.parallel(R, 1, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				r := rs[i]
				lg := logits[i*V : i*V+V]
				label := int(b.Labels[r+1])
				m := float32(math.Inf(-1))
				for _, v := range lg {
					m = max(m, v)
				}
				target := lg[label]
				// One exp per logit: keep exp(v-m) and scale it afterwards.
				var s float64
				for j, v := range lg {
					e := expf(v - m)
					s += float64(e)
					lg[j] = e
				}
				lse := float64(m) + math.Log(s)
				loss[r] = lse - float64(target)
				if dh != nil {
					f := gscale / float32(s)
					for j := range lg {
						lg[j] *= f
					}
					lg[label] -= gscale
				}
			}
		})
		if dh != nil {
			if n.headMod != nil {
				// Trained LM head: dW += dlogitsᵀ·h, and dh from the current W.
				n.pool.matAtB(n.savedGrad(n.headMod), logits[:R*V], hs[:R*Hd], R, V, Hd, true)
				n.pool.matAB(out, logits, W, R, V, Hd, false)
			} else {
				n.pool.matABt(out, logits, n.headT, R, V, Hd, false)
			}
			for i, r := range rs {
				copy(dh[r*Hd:r*Hd+Hd], out[i*Hd:i*Hd+Hd])
			}
		}
	}
	return loss
}

// Loss returns the summed cross-entropy over the batch's labelled tokens and
// their number, without gradients and without dropout (evaluation mode).
func (n *Net) Loss(b *Batch) (sum float64, items int, err error) {
	if err := b.Validate(n.Base.Vocab); err != nil {
		return 0, 0, err
	}
	tp := n.forward(b, false)
	for _, l := range n.head(tp.hN, b, nil, 0) {
		sum += l
	}
	return sum, b.Items(), nil
}

// Logits returns the logits of every position, [B*T, Vocab]; tests compare
// them with the inference engine.
func (n *Net) Logits(b *Batch) ([]float32, error) {
	if err := b.Validate(n.Base.Vocab); err != nil {
		return nil, err
	}
	tp := n.forward(b, false)
	N := b.B * b.T
	out := make([]float32, N*n.Base.Vocab)
	n.pool.matABt(out, tp.hN, n.headW(), N, n.Base.Hidden, n.Base.Vocab, false)
	return out, nil
}

// Backward runs forward and backward on one micro-batch, adding to Grads the
// gradient of (Σ CE)/items, where items is the number of labelled tokens of
// the whole accumulated optimiser step (HF's num_items_in_batch). It returns
// the summed cross-entropy of this micro-batch.
func (n *Net) Backward(b *Batch, items int) (float64, error) {
	if err := b.Validate(n.Base.Vocab); err != nil {
		return 0, err
	}
	if items <= 0 {
		return 0, fmt.Errorf("train: no labelled tokens to average over")
	}
	d := n.Base.Dims
	N, Hd := b.B*b.T, d.Hidden
	qd, kvd := d.Heads*d.HeadDim, d.KVHeads*d.HeadDim
	n.transposes()
	tp := n.forward(b, true)
	dhN := make([]float32, N*Hd)
	losses := n.head(tp.hN, b, dhN, 1/float32(items))
	var sum float64
	for _, l := range losses {
		sum += l
	}
	dx := make([]float32, N*Hd)
	n.rmsNormBack(dx, dhN, tp.xOut, n.Base.FinalNorm, tp.rN, N)
	for l := d.Layers - 1; l >= 0; l-- {
		L := &n.Base.Layers[l]
		lt := &tp.layers[l]
		// MLP: x = xMid + down(silu(g)*u).
		da := make([]float32, N*d.Inter)
		n.linearBack(da, dx, N, l, 6, &lt.lin[6])
		dg := make([]float32, N*d.Inter)
		du := make([]float32, N*d.Inter)
		for i, g := range lt.g {
			sg := 1 / (1 + float32(math.Exp(float64(-g))))
			du[i] = da[i] * g * sg
			dg[i] = da[i] * lt.u[i] * sg * (1 + g*(1-sg))
		}
		dh2 := make([]float32, N*Hd)
		n.linearBack(dh2, dg, N, l, 4, &lt.lin[4])
		n.linearBack(dh2, du, N, l, 5, &lt.lin[5])
		// dx now is d xMid (residual) plus the norm's gradient.
		n.rmsNormBack(dx, dh2, lt.xMid, L.MLPNorm, lt.r2, N)
		// Attention: xMid = xIn + o_proj(att).
		datt := make([]float32, N*qd)
		n.linearBack(datt, dx, N, l, 3, &lt.lin[3])
		dq := make([]float32, N*qd)
		dk := make([]float32, N*kvd)
		dv := make([]float32, N*kvd)
		n.attentionBack(dq, dk, dv, datt, lt.p, lt.q, lt.k, lt.v, b)
		n.rope(dq, N, b.T, d.Heads, true)
		n.rope(dk, N, b.T, d.KVHeads, true)
		dh1 := make([]float32, N*Hd)
		n.linearBack(dh1, dq, N, l, 0, &lt.lin[0])
		n.linearBack(dh1, dk, N, l, 1, &lt.lin[1])
		n.linearBack(dh1, dv, N, l, 2, &lt.lin[2])
		n.rmsNormBack(dx, dh1, lt.xIn, L.AttnNorm, lt.r1, N)
	}
	if n.embedMod != nil {
		// Embedding rows collect their tokens' gradients in position order.
		g := n.savedGrad(n.embedMod)
		for i, id := range b.IDs {
			row := g[int(id)*Hd : int(id)*Hd+Hd]
			for j, v := range dx[i*Hd : i*Hd+Hd] {
				row[j] += v
			}
		}
	}
	return sum, nil
}
