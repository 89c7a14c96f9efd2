package train

import (
	"fmt"
	"sync"

	"github.com/crossin-lab/crossin/engine/lora"
	"github.com/crossin-lab/crossin/engine/model"
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
	act     gate // the MLP activation; zero for SwiGLU's inline loops
	scale   float32
	dropout float64
	pairs   [][numProj]*lora.Pair // [layer][projection]
	gradIdx map[*lora.Pair]int
	cos     [][]float32 // [position][HeadDim/2]
	sin     [][]float32
	// wt caches the transposes ([in, out]) of the frozen projections and
	// the LM head: the input gradient dx = dy·W then runs on the A·Bᵀ GEMM
	// without transposing W on every call. It costs one extra copy of the
	// weights, built lazily on the first backward pass, and only where the
	// kernels would transpose W themselves (tensor.InPlaceLayouts): the
	// bits are the same either way. nil when not built.
	wt     [][numProj][]float32
	headT  []float32
	wtOnce sync.Once
	// head and embed are the trained copies (modules_to_save), or nil.
	headMod, embedMod *lora.Full
	savedIdx          []int // Grads index of each Adapter.Saved
	// headBuf holds one chunk of logits between passes (head.go); it is
	// why a Net serves one pass at a time.
	headBuf []float32
	// arena holds one pass's activations and gradients (packed.go); scr
	// the temporaries of one projection's forward or backward, which die
	// with the call (in the arena they would add up over a pass: 0.8 GB
	// for SmolLM2).
	arena arena
	scr   [3][]float32
}

func (n *Net) transposes() {
	n.wtOnce.Do(func() {
		if tensor.InPlaceLayouts() {
			return
		}
		d := n.Base.Dims
		n.wt = make([][numProj][]float32, d.Layers)
		n.pool.parallel(d.Layers*int(numProj)+1, 1, func(lo, hi int) {
			for t := lo; t < hi; t++ {
				if t == d.Layers*int(numProj) {
					if n.headMod != nil {
						continue // trained: it changes every step
					}
					n.headT = make([]float32, d.Vocab*d.Hidden)
					tensor.Transpose(n.headT, n.Base.LMHead, d.Vocab, d.Hidden)
					continue
				}
				l, mi := t/int(numProj), model.Proj(t%int(numProj))
				in, out := d.Shape(mi.String())
				w := make([]float32, in*out)
				tensor.Transpose(w, n.Base.Layers[l].proj(mi), out, in)
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
	if a := base.Act; a != "" && a != "silu" && a != "swish" {
		n.act, _ = gateFor(a) // Validate checked it
	}
	n.scale = float32(ad.Config.Scale())
	n.dropout = ad.Config.Dropout
	n.pairs = make([][numProj]*lora.Pair, base.Dims.Layers)
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
		proj, ok := model.ParseProj(p.Module)
		if !ok {
			return nil, fmt.Errorf("train: adapter layer %d has unknown module %q", p.Layer, p.Module)
		}
		n.pairs[p.Layer][proj] = p
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
