package train

import "fmt"

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
	b      *Batch
	layers []layerTape
	xOut   []float32 // residual stream after the last layer
	hN, rN []float32 // final norm output and its 1/rms
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
	if s := d.EmbedScale; s != 0 {
		for i := range x {
			x[i] *= s
		}
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
		n.linear(lt.q, lt.h1, N, l, projQ, b, &lt.lin[projQ], train)
		n.linear(lt.k, lt.h1, N, l, projK, b, &lt.lin[projK], train)
		n.linear(lt.v, lt.h1, N, l, projV, b, &lt.lin[projV], train)
		n.rope(lt.q, N, b.T, d.Heads, false)
		n.rope(lt.k, N, b.T, d.KVHeads, false)
		lt.att = make([]float32, N*qd)
		lt.p = make([]float32, b.B*d.Heads*b.T*b.T)
		n.attention(lt.att, lt.p, lt.q, lt.k, lt.v, b)
		o := make([]float32, N*Hd)
		n.linear(o, lt.att, N, l, projO, b, &lt.lin[projO], train)
		lt.xMid = make([]float32, N*Hd)
		for i := range o {
			lt.xMid[i] = x[i] + o[i]
		}
		lt.h2 = make([]float32, N*Hd)
		lt.r2 = n.rmsNorm(lt.h2, lt.xMid, L.MLPNorm, N)
		lt.g = make([]float32, N*d.Inter)
		lt.u = make([]float32, N*d.Inter)
		n.linear(lt.g, lt.h2, N, l, projGate, b, &lt.lin[projGate], train)
		n.linear(lt.u, lt.h2, N, l, projUp, b, &lt.lin[projUp], train)
		lt.a = make([]float32, N*d.Inter)
		n.gateForward(lt.a, lt.g, lt.u)
		dn := make([]float32, N*Hd)
		n.linear(dn, lt.a, N, l, projDown, b, &lt.lin[projDown], train)
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

// Loss returns the summed cross-entropy over the batch's labelled tokens and
// their number, without gradients and without dropout (evaluation mode).
func (n *Net) Loss(b *Batch) (sum float64, items int, err error) {
	if err := b.Validate(n.Base.Vocab); err != nil {
		return 0, 0, err
	}
	tp := n.forward(b, false)
	for _, l := range n.head(tp.hN, b, nil, nil) {
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
	d := n.Base.Dims
	N, Hd := b.B*b.T, d.Hidden
	qd, kvd := d.Heads*d.HeadDim, d.KVHeads*d.HeadDim
	n.transposes()
	tp := n.forward(b, true)
	dhN := make([]float32, N*Hd)
	losses := n.head(tp.hN, b, dhN, scale)
	dx := make([]float32, N*Hd)
	n.rmsNormBack(dx, dhN, tp.xOut, n.Base.FinalNorm, tp.rN, N)
	for l := d.Layers - 1; l >= 0; l-- {
		L := &n.Base.Layers[l]
		lt := &tp.layers[l]
		// MLP: x = xMid + down(act(g)*u).
		da := make([]float32, N*d.Inter)
		n.linearBack(da, dx, N, l, projDown, &lt.lin[projDown])
		dg := make([]float32, N*d.Inter)
		du := make([]float32, N*d.Inter)
		n.gateBack(dg, du, da, lt.g, lt.u)
		dh2 := make([]float32, N*Hd)
		n.linearBack(dh2, dg, N, l, projGate, &lt.lin[projGate])
		n.linearBack(dh2, du, N, l, projUp, &lt.lin[projUp])
		// dx now is d xMid (residual) plus the norm's gradient.
		n.rmsNormBack(dx, dh2, lt.xMid, L.MLPNorm, lt.r2, N)
		// Attention: xMid = xIn + o_proj(att).
		datt := make([]float32, N*qd)
		n.linearBack(datt, dx, N, l, projO, &lt.lin[projO])
		dq := make([]float32, N*qd)
		dk := make([]float32, N*kvd)
		dv := make([]float32, N*kvd)
		n.attentionBack(dq, dk, dv, datt, lt.p, lt.q, lt.k, lt.v, b)
		n.rope(dq, N, b.T, d.Heads, true)
		n.rope(dk, N, b.T, d.KVHeads, true)
		dh1 := make([]float32, N*Hd)
		n.linearBack(dh1, dq, N, l, projQ, &lt.lin[projQ])
		n.linearBack(dh1, dk, N, l, projK, &lt.lin[projK])
		n.linearBack(dh1, dv, N, l, projV, &lt.lin[projV])
		n.rmsNormBack(dx, dh1, lt.xIn, L.AttnNorm, lt.r1, N)
	}
	if n.embedMod != nil {
		// Embedding rows collect their tokens' gradients in position
		// order (times the embedding scale, for Gemma).
		g := n.savedGrad(n.embedMod)
		s := d.EmbedScale
		for i, id := range b.IDs {
			row := g[int(id)*Hd : int(id)*Hd+Hd]
			for j, v := range dx[i*Hd : i*Hd+Hd] {
				if s != 0 {
					v *= s
				}
				row[j] += v
			}
		}
	}
	return losses, nil
}
