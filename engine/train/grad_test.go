package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/crossin-lab/crossin/engine/lora"
	"github.com/crossin-lab/crossin/engine/model"
)

// randomBatch makes a right-padded batch with prompt tokens masked out of the
// labels, as the data pipeline does.
func randomBatch(rng *rand.Rand, B, T, vocab int) *Batch {
	b := &Batch{B: B, T: T, DropSeed: rng.Uint64()}
	for r := 0; r < B; r++ {
		n := T - rng.IntN(T/2+1) // real length
		if r == 0 {
			n = T
		}
		prompt := 1 + rng.IntN(n/2+1)
		for t := 0; t < T; t++ {
			id, lab, m := int32(rng.IntN(vocab)), int32(IgnoreIndex), uint8(0)
			if t < n {
				m = 1
				if t >= prompt {
					lab = id
				}
			} else {
				id = 0
			}
			b.IDs, b.Labels, b.Mask = append(b.IDs, id), append(b.Labels, lab), append(b.Mask, m)
		}
	}
	return b
}

func randomAdapter(t testing.TB, d Dims, r int, alpha, dropout float64, targets []string, seed uint64) *lora.Adapter {
	ad, err := lora.New(lora.Config{R: r, Alpha: alpha, Dropout: dropout, TargetModules: targets, InitWeights: true}, d.Layers, d.Shape, seed)
	if err != nil {
		t.Fatal(err)
	}
	// Non-zero B so every gradient is exercised (like init_lora_weights=False).
	rng := rand.New(rand.NewPCG(seed, 7))
	for _, p := range ad.Pairs {
		for i := range p.B {
			p.B[i] = float32(rng.NormFloat64() * 0.3)
		}
	}
	return ad
}

// TestFiniteDifference checks the analytic LoRA gradients against central
// differences of the loss on random shapes: GQA and MHA, padding, prompt
// masking, dropout, odd sizes.
func TestFiniteDifference(t *testing.T) {
	cases := []struct {
		d       Dims
		B, T, r int
		dropout float64
		targets []string
		save    []string
		tied    bool // LM head and embedding share one tensor (Gemma)
		bias    bool // q/k/v biases (Qwen2)
	}{
		{Dims{Vocab: 23, Hidden: 12, Inter: 20, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 4, NormEps: 1e-5}, 3, 7, 3, 0, lora.Modules, nil, false, false},
		{Dims{Vocab: 17, Hidden: 10, Inter: 14, Layers: 1, Heads: 2, KVHeads: 2, HeadDim: 6, NormEps: 1e-6}, 2, 9, 2, 0.3, lora.Modules, nil, false, false},
		{Dims{Vocab: 31, Hidden: 16, Inter: 9, Layers: 2, Heads: 4, KVHeads: 1, HeadDim: 4, NormEps: 1e-5}, 2, 5, 4, 0.1, []string{"q_proj", "v_proj", "down_proj"}, nil, false, false},
		{Dims{Vocab: 13, Hidden: 8, Inter: 12, Layers: 1, Heads: 2, KVHeads: 1, HeadDim: 4, NormEps: 1e-5}, 2, 6, 2, 0, []string{"k_proj", "up_proj"}, []string{"embed_tokens", "lm_head"}, false, false},
		// Mistral: a sliding window shorter than the sequence.
		{Dims{Vocab: 19, Hidden: 12, Inter: 16, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 4, NormEps: 1e-5, SlidingWindow: 3}, 2, 9, 3, 0.1, lora.Modules, nil, false, false},
		// Qwen2: q/k/v biases.
		{Dims{Vocab: 17, Hidden: 8, Inter: 12, Layers: 2, Heads: 2, KVHeads: 1, HeadDim: 4, NormEps: 1e-6}, 2, 7, 2, 0, lora.Modules, nil, false, true},
		// Gemma: GeGLU (tanh), scaled embeddings, head_dim ≠ hidden/heads,
		// tied embeddings, both modules_to_save.
		{Dims{Vocab: 15, Hidden: 8, Inter: 12, Layers: 2, Heads: 2, KVHeads: 1, HeadDim: 6, NormEps: 1e-6, Act: "gelu_pytorch_tanh", EmbedScale: float32(math.Sqrt(8))}, 2, 7, 2, 0, lora.Modules, []string{"embed_tokens", "lm_head"}, true, false},
		// GeGLU with the exact (erf) gelu.
		{Dims{Vocab: 11, Hidden: 8, Inter: 10, Layers: 1, Heads: 2, KVHeads: 2, HeadDim: 4, NormEps: 1e-6, Act: "gelu"}, 2, 6, 2, 0, []string{"gate_proj", "up_proj", "down_proj"}, nil, false, false},
	}
	for ci, c := range cases {
		t.Run(fmt.Sprint(ci), func(t *testing.T) {
			c.d.InvFreq = DefaultInvFreq(10000, c.d.HeadDim)
			base := RandomBase(c.d, uint64(ci+1))
			if c.tied {
				base.LMHead = base.Embed
			}
			if c.bias {
				brng := rand.New(rand.NewPCG(uint64(ci), 99))
				for l := range base.Layers {
					for _, p := range []model.Proj{projQ, projK, projV} {
						_, out := c.d.Shape(p.String())
						bias := make([]float32, out)
						for i := range bias {
							bias[i] = float32(brng.NormFloat64())
						}
						base.Layers[l].Bias[p] = bias
					}
				}
			}
			ad := randomAdapter(t, c.d, c.r, 2*float64(c.r), c.dropout, c.targets, uint64(ci+10))
			ad.Config.ModulesToSave = c.save
			for _, m := range c.save {
				w := slices.Clone(base.LMHead)
				if m == "embed_tokens" {
					w = slices.Clone(base.Embed)
				}
				ad.Saved = append(ad.Saved, &lora.Full{Module: m, Rows: c.d.Vocab, Cols: c.d.Hidden, W: w})
			}
			n, err := NewNet(base, ad, 2)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(uint64(ci), 3))
			b := randomBatch(rng, c.B, c.T, c.d.Vocab)
			items := b.Items()
			if _, err := n.Backward(b, items); err != nil {
				t.Fatal(err)
			}
			loss := func() float64 {
				// Loss with the same dropout masks as Backward: use the training path.
				m, _ := NewNet(base, ad, 1)
				s, _ := m.Backward(b, items)
				return s / float64(items)
			}
			params := n.Params()
			checked, bad := 0, 0
			for pi, p := range params {
				for k := 0; k < 6; k++ {
					j := rng.IntN(len(p))
					if pi >= len(ad.Pairs)*2 && k%2 == 0 {
						// A trained embedding or LM head: half the probes in
						// a row the batch uses, where the gradient is not 0.
						j = int(b.IDs[rng.IntN(len(b.IDs))])*c.d.Hidden + rng.IntN(c.d.Hidden)
					}
					old := p[j]
					const h = 1e-2
					p[j] = old + h
					lp := loss()
					p[j] = old - h
					lm := loss()
					p[j] = old
					fd := (lp - lm) / (2 * h)
					g := float64(n.Grads[pi][j])
					checked++
					if math.Abs(fd-g) > 2e-3+2e-2*math.Abs(fd) {
						bad++
						t.Errorf("param %d[%d]: analytic %.6g, finite difference %.6g", pi, j, g, fd)
					}
				}
			}
			t.Logf("%d gradient entries checked", checked)
		})
	}
}

// TestDropoutOnlyInTraining: Loss and Logits run in evaluation mode (no
// dropout), Backward in training mode with masks fixed by the batch seed.
func TestDropoutOnlyInTraining(t *testing.T) {
	d := tinyDims()
	base := RandomBase(d, 3)
	withDrop := randomAdapter(t, d, 4, 8, 0.5, lora.Modules, 4)
	noDrop := withDrop.Clone()
	noDrop.Config.Dropout = 0
	b := randomBatch(rand.New(rand.NewPCG(5, 5)), 3, 8, d.Vocab)
	n1, _ := NewNet(base, withDrop, 0)
	n0, _ := NewNet(base, noDrop, 0)
	e1, _, _ := n1.Loss(b)
	e0, _, _ := n0.Loss(b)
	if e1 != e0 {
		t.Errorf("evaluation loss with dropout configured %v != without %v", e1, e0)
	}
	t1, _ := n1.Backward(b, b.Items())
	t1again, _ := n1.Backward(b, b.Items())
	if t1 == e1 {
		t.Error("training loss equals evaluation loss: dropout not applied")
	}
	if t1 != t1again {
		t.Error("dropout masks are not reproducible for the same batch seed")
	}
}
