package train

import (
	"fmt"

	"github.com/crossin-lab/crossin/engine/tensor"
)

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
	lin         [numProj]linTape
}

type tape struct {
	pk     *packed
	layers []layerTape
	xOut   []float32 // residual stream after the last layer
	hN, rN []float32 // final norm output and its 1/rms
}

// forward runs the decoder over the packed positions of a batch and
// returns the tape (activations for backward) ending at the final norm.
// train applies LoRA dropout (module.train() in PyTorch); evaluation runs
// without it. Its buffers come from the Net's arena.
func (n *Net) forward(pk *packed, train bool) *tape {
	d := n.Base.Dims
	N, Hd := pk.n, d.Hidden
	qd, kvd := d.Heads*d.HeadDim, d.KVHeads*d.HeadDim
	a := &n.arena
	a.reset()
	b := pk.b
	x := a.get(N * Hd)
	emb, s := n.embedW(), d.EmbedScale
	n.pool.parallel(N, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			id := int(b.IDs[pk.src[i]])
			row := x[i*Hd : i*Hd+Hd]
			copy(row, emb[id*Hd:id*Hd+Hd])
			if s != 0 {
				tensor.Scale(row, s)
			}
		}
	})
	tp := &tape{pk: pk, layers: make([]layerTape, d.Layers)}
	if n.Base.Rope == nil {
		n.ropeTables(b.T)
	}
	for l := 0; l < d.Layers; l++ {
		L := &n.Base.Layers[l]
		lt := &tp.layers[l]
		lt.xIn = x
		lt.h1 = a.get(N * Hd)
		lt.r1 = n.rmsNorm(lt.h1, x, L.AttnNorm, N)
		lt.q = a.get(N * qd)
		lt.k = a.get(N * kvd)
		lt.v = a.get(N * kvd)
		n.linear(lt.q, lt.h1, l, projQ, pk, &lt.lin[projQ], train)
		n.linear(lt.k, lt.h1, l, projK, pk, &lt.lin[projK], train)
		n.linear(lt.v, lt.h1, l, projV, pk, &lt.lin[projV], train)
		n.rope(lt.q, pk, d.Heads, false)
		n.rope(lt.k, pk, d.KVHeads, false)
		lt.att = a.get(N * qd)
		lt.p = a.get(d.Heads * pk.squares())
		n.attention(lt.att, lt.p, lt.q, lt.k, lt.v, pk)
		o := a.get(N * Hd)
		n.linear(o, lt.att, l, projO, pk, &lt.lin[projO], train)
		lt.xMid = a.get(N * Hd)
		n.add(lt.xMid, x, o)
		lt.h2 = a.get(N * Hd)
		lt.r2 = n.rmsNorm(lt.h2, lt.xMid, L.MLPNorm, N)
		lt.g = a.get(N * d.Inter)
		lt.u = a.get(N * d.Inter)
		n.linear(lt.g, lt.h2, l, projGate, pk, &lt.lin[projGate], train)
		n.linear(lt.u, lt.h2, l, projUp, pk, &lt.lin[projUp], train)
		lt.a = a.get(N * d.Inter)
		n.gateForward(lt.a, lt.g, lt.u)
		dn := a.get(N * Hd)
		n.linear(dn, lt.a, l, projDown, pk, &lt.lin[projDown], train)
		x = a.get(N * Hd)
		n.add(x, lt.xMid, dn)
	}
	tp.xOut = x
	tp.hN = a.get(N * Hd)
	tp.rN = n.rmsNorm(tp.hN, x, n.Base.FinalNorm, N)
	return tp
}

// add sets dst = x + y, element by element.
func (n *Net) add(dst, x, y []float32) {
	n.pool.parallel(len(dst), 4096, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dst[i] = x[i] + y[i]
		}
	})
}

// Loss returns the summed cross-entropy over the batch's labelled tokens and
// their number, without gradients and without dropout (evaluation mode).
func (n *Net) Loss(b *Batch) (sum float64, items int, err error) {
	if err := b.Validate(n.Base.Vocab); err != nil {
		return 0, 0, err
	}
	tp := n.forward(packBatch(b), false)
	for _, l := range n.head(tp.hN, tp.pk, nil, nil) {
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
	tp := n.forward(packAll(b), false)
	N := b.B * b.T
	out := make([]float32, N*n.Base.Vocab)
	n.pool.matABt(out, tp.hN, n.headW(), N, n.Base.Hidden, n.Base.Vocab, false)
	return out, nil
}

// Backward runs forward and backward on one micro-batch, adding to Grads the
// gradient of (Σ CE)/items, where items is the number of labelled tokens of
// the whole accumulated optimiser step (HF's num_items_in_batch): the
// "token" loss reduction. It returns the summed cross-entropy of this
// micro-batch.
func (n *Net) Backward(b *Batch, items int) (float64, error) {
	if items <= 0 {
		return 0, fmt.Errorf("train: no labelled tokens to average over")
	}
	scale := make([]float32, b.B)
	for r := range scale {
		scale[r] = 1 / float32(items)
	}
	losses, err := n.backward(b, scale)
	var sum float64
	for _, l := range losses {
		sum += l
	}
	return sum, err
}

// BackwardRows runs forward and backward on one micro-batch, adding to
// Grads the gradient of Σ_r scale[r]·(Σ CE of row r). It returns each row's
// summed cross-entropy. Backward is the token-weighted case; the sample
// reduction weighs row r by 1/(its labelled tokens · samples per step).
func (n *Net) BackwardRows(b *Batch, scale []float32) ([]float64, error) {
	if len(scale) != b.B {
		return nil, fmt.Errorf("train: %d row scales for a batch of %d rows", len(scale), b.B)
	}
	losses, err := n.backward(b, scale)
	if err != nil {
		return nil, err
	}
	sums := make([]float64, b.B)
	for i, l := range losses {
		sums[i/b.T] += l
	}
	return sums, nil
}

// backward is the forward and backward pass of BackwardRows; it returns
// the per-position losses.
func (n *Net) backward(b *Batch, scale []float32) ([]float64, error) {
	if err := b.Validate(n.Base.Vocab); err != nil {
		return nil, err
	}
	return n.backwardPacked(packBatch(b), scale), nil
}

// backwardPacked is backward over the given positions of its batch.
func (n *Net) backwardPacked(pk *packed, scale []float32) []float64 {
	d := n.Base.Dims
	b := pk.b
	N, Hd := pk.n, d.Hidden
	qd, kvd := d.Heads*d.HeadDim, d.KVHeads*d.HeadDim
	n.transposes()
	tp := n.forward(pk, true)
	a := &n.arena
	dhN := a.zero(N * Hd)
	losses := n.head(tp.hN, pk, dhN, scale)
	dx := a.zero(N * Hd)
	n.rmsNormBack(dx, dhN, tp.xOut, n.Base.FinalNorm, tp.rN, N)
	// Gradient buffers of one layer, reused by the next (set before read,
	// or zeroed where they are sums).
	da := a.get(N * d.Inter)
	dg := a.get(N * d.Inter)
	du := a.get(N * d.Inter)
	dh2 := a.get(N * Hd)
	datt := a.get(N * qd)
	dq := a.get(N * qd)
	dk := a.get(N * kvd)
	dv := a.get(N * kvd)
	dh1 := a.get(N * Hd)
	for l := d.Layers - 1; l >= 0; l-- {
		L := &n.Base.Layers[l]
		lt := &tp.layers[l]
		// MLP: x = xMid + down(act(g)*u).
		n.linearBack(da, dx, l, projDown, pk, &lt.lin[projDown], false)
		n.gateBack(dg, du, da, lt.g, lt.u)
		n.linearBack(dh2, dg, l, projGate, pk, &lt.lin[projGate], false)
		n.linearBack(dh2, du, l, projUp, pk, &lt.lin[projUp], true)
		// dx now is d xMid (residual) plus the norm's gradient.
		n.rmsNormBack(dx, dh2, lt.xMid, L.MLPNorm, lt.r2, N)
		// Attention: xMid = xIn + o_proj(att).
		n.linearBack(datt, dx, l, projO, pk, &lt.lin[projO], false)
		n.attentionBack(dq, dk, dv, datt, lt.p, lt.q, lt.k, lt.v, pk)
		n.rope(dq, pk, d.Heads, true)
		n.rope(dk, pk, d.KVHeads, true)
		n.linearBack(dh1, dq, l, projQ, pk, &lt.lin[projQ], false)
		n.linearBack(dh1, dk, l, projK, pk, &lt.lin[projK], true)
		n.linearBack(dh1, dv, l, projV, pk, &lt.lin[projV], true)
		n.rmsNormBack(dx, dh1, lt.xIn, L.AttnNorm, lt.r1, N)
	}
	if n.embedMod != nil {
		// Embedding rows collect their tokens' gradients in position
		// order (times the embedding scale, for Gemma).
		g := n.savedGrad(n.embedMod)
		s := d.EmbedScale
		for i, p := range pk.src {
			id := b.IDs[p]
			row := g[int(id)*Hd : int(id)*Hd+Hd]
			for j, v := range dx[i*Hd : i*Hd+Hd] {
				if s != 0 {
					v *= s
				}
				row[j] += v
			}
		}
	}
	return losses
}
