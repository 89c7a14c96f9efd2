package model

import (
	"fmt"

	"github.com/crossin-lab/crossin/engine/safetensors"
	"github.com/crossin-lab/crossin/engine/tensor"
)

// Proj names one linear projection of a decoder layer. The names match
// Hugging Face's module names, which PEFT's target_modules use.
type Proj int

// The seven projections of a Llama decoder layer, in a fixed order.
const (
	ProjQ Proj = iota
	ProjK
	ProjV
	ProjO
	ProjGate
	ProjUp
	ProjDown
	NumProj
)

var projNames = [NumProj]string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}

// String returns the module name, e.g. "q_proj".
func (p Proj) String() string {
	if p < 0 || p >= NumProj {
		return fmt.Sprintf("Proj(%d)", int(p))
	}
	return projNames[p]
}

// Module returns the path of the projection inside a layer, e.g.
// "self_attn.q_proj" or "mlp.down_proj".
func (p Proj) Module() string {
	if p <= ProjO {
		return "self_attn." + p.String()
	}
	return "mlp." + p.String()
}

// ParseProj maps "q_proj" etc. to a Proj.
func ParseProj(s string) (Proj, bool) {
	for i, n := range projNames {
		if n == s {
			return Proj(i), true
		}
	}
	return 0, false
}

// Linear is a dense projection y = x·Wᵀ + b with W stored as Hugging Face
// stores it: Out rows of In values (row-major [Out, In]).
type Linear struct {
	Name    string // tensor name prefix, e.g. "model.layers.0.self_attn.q_proj"
	W       []float32
	B       []float32 // nil when the layer has no bias
	In, Out int
}

// Forward computes y[n×Out] = x[n×In]·Wᵀ + b (overwriting y).
func (l *Linear) Forward(x []float32, n int, y []float32) { l.forward(0, x, n, y) }

// forward is Forward on at most th goroutines.
func (l *Linear) forward(th tensor.Threads, x []float32, n int, y []float32) {
	th.MatMulNT(y[:n*l.Out], x[:n*l.In], l.W, n, l.Out, l.In, false)
	if l.B != nil {
		for i := 0; i < n; i++ {
			row := y[i*l.Out : (i+1)*l.Out]
			for j, b := range l.B {
				row[j] += b
			}
		}
	}
}

// Layer holds one decoder layer's weights.
type Layer struct {
	InputNorm    []float32 // input_layernorm.weight [hidden]
	PostAttnNorm []float32 // post_attention_layernorm.weight [hidden]
	// Proj holds q, k, v, o, gate, up, down, indexed by Proj.
	Proj [NumProj]Linear
}

// Weights are all of a model's tensors as float32. Float32 weights alias
// the memory-mapped safetensors file (one copy, shared with the page
// cache); BF16/F16 weights are converted once at load.
type Weights struct {
	Embed  []float32 // [vocab, hidden]
	Layers []Layer
	Norm   []float32 // final norm [hidden]
	// LMHead is [vocab, hidden]; with tied embeddings it is the same slice
	// as Embed.
	LMHead []float32
}

// Adapter lets a caller add to any projection's output without copying
// the forward pass: after the base projection y = x·Wᵀ + b of (layer, p)
// the model calls AddDelta(layer, p, x, n, y), which adds its delta to y
// in place. A LoRA adapter computes y += scale · (x·Aᵀ)·Bᵀ for the
// projections it targets and returns at once for the others.
//
// x holds n rows of the projection's input (width Linear.In), y n rows of
// its output (width Linear.Out). Implementations must not keep x or y. One
// forward pass calls AddDelta sequentially, layer by layer; concurrent
// forward passes on one Model call it concurrently, so an adapter must not
// mutate shared state while the model is in use.
type Adapter interface {
	AddDelta(layer int, p Proj, x []float32, n int, y []float32)
}

// LayerPrefix returns "model.layers.<i>".
func LayerPrefix(i int) string { return fmt.Sprintf("model.layers.%d", i) }

// loadWeights reads every tensor the config needs from set, checking shapes.
func loadWeights(c *Config, set *safetensors.Set) (*Weights, error) {
	get := func(name string, shape ...int) ([]float32, error) {
		v, info, err := set.Float32(name)
		if err != nil {
			return nil, err
		}
		if !sameShape(info.Shape, shape) {
			return nil, fmt.Errorf("%s: tensor %q has shape %v, config.json implies %v", set.Dir, name, info.Shape, shape)
		}
		return v, nil
	}
	has := func(name string) bool { _, ok := set.Info(name); return ok }
	h, q, kv, in := c.HiddenSize, c.QDim(), c.KVDim(), c.IntermediateSize
	w := &Weights{Layers: make([]Layer, c.NumLayers)}
	var err error
	if w.Embed, err = get("model.embed_tokens.weight", c.VocabSize, h); err != nil {
		return nil, err
	}
	if w.Norm, err = get("model.norm.weight", h); err != nil {
		return nil, err
	}
	switch {
	case c.TieWordEmbeddings:
		w.LMHead = w.Embed
	case has("lm_head.weight"):
		if w.LMHead, err = get("lm_head.weight", c.VocabSize, h); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%s: no tensor \"lm_head.weight\" and tie_word_embeddings is false in config.json", set.Dir)
	}
	dims := [NumProj][2]int{{q, h}, {kv, h}, {kv, h}, {h, q}, {in, h}, {in, h}, {h, in}}
	for i := range w.Layers {
		L := &w.Layers[i]
		pre := LayerPrefix(i)
		if L.InputNorm, err = get(pre+".input_layernorm.weight", h); err != nil {
			return nil, err
		}
		if L.PostAttnNorm, err = get(pre+".post_attention_layernorm.weight", h); err != nil {
			return nil, err
		}
		for p := Proj(0); p < NumProj; p++ {
			lin := &L.Proj[p]
			lin.Name = pre + "." + p.Module()
			lin.Out, lin.In = dims[p][0], dims[p][1]
			if lin.W, err = get(lin.Name+".weight", lin.Out, lin.In); err != nil {
				return nil, err
			}
			if c.hasBias(p) {
				if lin.B, err = get(lin.Name+".bias", lin.Out); err != nil {
					return nil, err
				}
			}
		}
	}
	return w, nil
}

// hasBias reports whether projection p carries a bias under this config.
func (c *Config) hasBias(p Proj) bool {
	switch {
	case p <= ProjV:
		return c.AttentionBias || c.QKVBias
	case p == ProjO:
		return c.AttentionBias
	default:
		return c.MLPBias
	}
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
