package train

import (
	"fmt"
	"math"

	"github.com/crossin-lab/crossin/engine/lora"
	"github.com/crossin-lab/crossin/engine/model"
	"github.com/crossin-lab/crossin/engine/tensor"
)

// FromModel wraps a loaded inference model as the frozen base of a LoRA
// run. The weights are shared, not copied, and the model's own RoPE is used,
// so the training forward computes what the inference forward computes.
// Llama, Mistral (sliding window), Qwen2 (q/k/v biases) and Gemma (scaled
// embeddings, (1+w) RMSNorm, GeGLU, head_dim from the config, tied
// embeddings) all train; an activation without a backward pass is refused.
func FromModel(m *model.Model) (*Base, error) {
	c := m.Config
	if _, err := gateFor(c.HiddenAct); err != nil {
		return nil, err
	}
	w := m.Weights
	b := &Base{
		Dims: Dims{Vocab: c.VocabSize, Hidden: c.HiddenSize, Inter: c.IntermediateSize, Layers: c.NumLayers,
			Heads: c.NumHeads, KVHeads: c.NumKVHeads, HeadDim: c.HeadDim, NormEps: c.RMSNormEps,
			SlidingWindow: c.SlidingWindow},
		Embed: w.Embed, LMHead: w.LMHead, FinalNorm: normWeight(w.Norm, c.NormPlusOne), Rope: m.Rope(),
	}
	if a := c.HiddenAct; a != "silu" && a != "swish" {
		b.Act = a
	}
	if c.EmbedScale {
		// transformers: hidden * tensor(hidden_size**0.5, dtype=float32).
		b.EmbedScale = float32(math.Sqrt(float64(c.HiddenSize)))
	}
	for i := range w.Layers {
		L := &w.Layers[i]
		l := Layer{AttnNorm: normWeight(L.InputNorm, c.NormPlusOne), MLPNorm: normWeight(L.PostAttnNorm, c.NormPlusOne)}
		for p := model.Proj(0); p < numProj; p++ {
			*l.slot(p) = L.Proj[p].W
			l.Bias[p] = L.Proj[p].B
		}
		b.Layers = append(b.Layers, l)
	}
	if err := b.Validate(); err != nil {
		return nil, err
	}
	return b, nil
}

// normWeight returns the RMSNorm's multiplier: w itself, or for Gemma's
// (1+w) norm a copy holding 1+w in float32, the value the inference
// forward multiplies by, so the training norm needs no variant.
func normWeight(w []float32, plusOne bool) []float32 {
	if !plusOne {
		return w
	}
	out := make([]float32, len(w))
	for i, v := range w {
		out[i] = 1 + v
	}
	return out
}

// Hook applies a LoRA adapter inside the inference engine's forward pass
// (model.Adapter): after each base projection it adds
// scale·(x·Aᵀ)·Bᵀ, in the order peft computes it. Use it with
// model.WithAdapter or Model.SetAdapter for generation and scoring.
type Hook struct {
	m     *model.Model // its Threads bound the hook's products too
	ad    *lora.Adapter
	scale float32
	pairs [][model.NumProj]*lora.Pair
}

// NewHook checks the adapter against the model's shapes and returns the hook.
func NewHook(m *model.Model, ad *lora.Adapter) (*Hook, error) {
	if len(ad.Saved) > 0 {
		return nil, fmt.Errorf("lora: the adapter also replaces %v (modules_to_save): apply it with train.Apply, not a projection hook alone", ad.Config.ModulesToSave)
	}
	return newHook(m, ad)
}

func newHook(m *model.Model, ad *lora.Adapter) (*Hook, error) {
	c := m.Config
	h := &Hook{m: m, ad: ad, scale: float32(ad.Config.Scale()), pairs: make([][model.NumProj]*lora.Pair, c.NumLayers)}
	for _, p := range ad.Pairs {
		if p.Layer < 0 || p.Layer >= c.NumLayers {
			return nil, fmt.Errorf("lora: adapter has layer %d; the model has %d layers", p.Layer, c.NumLayers)
		}
		proj, ok := model.ParseProj(p.Module)
		if !ok {
			return nil, fmt.Errorf("lora: unknown module %q", p.Module)
		}
		lin := &m.Weights.Layers[p.Layer].Proj[proj]
		if lin.In != p.In || lin.Out != p.Out {
			return nil, fmt.Errorf("lora: layer %d %s is [%d, %d] in the adapter but [%d, %d] in the model (adapter for another model?)",
				p.Layer, p.Module, p.Out, p.In, lin.Out, lin.In)
		}
		h.pairs[p.Layer][proj] = p
	}
	return h, nil
}

// AddDelta implements model.Adapter.
func (h *Hook) AddDelta(layer int, p model.Proj, x []float32, n int, y []float32) {
	pr := h.pairs[layer][p]
	if pr == nil {
		return
	}
	r := h.ad.Config.R
	buf := deltaPool.Get(n * (r + pr.Out))
	defer deltaPool.Put(buf)
	z, t := buf[:n*r], buf[n*r:]
	th := h.m.Threads()
	th.MatMulNT(z, x[:n*pr.In], pr.A, n, r, pr.In, false)
	th.MatMulNT(t, z, pr.B, n, pr.Out, r, false)
	tensor.AddScaled(y[:len(t)], t, h.scale)
}

// deltaPool holds AddDelta's temporaries (x·Aᵀ and its product with Bᵀ).
var deltaPool tensor.Pool

// Apply installs the adapter in the model for inference: the LoRA hook on
// the projections and, for modules_to_save, the trained LM head or
// embedding in place of the base ones. On a model with tied embeddings
// (Gemma) each trained copy replaces only its own module, as in peft,
// whose modules_to_save wrappers copy each module separately, untying them
// (huggingface/peft#1750). undo restores the base model.
func Apply(m *model.Model, ad *lora.Adapter) (undo func(), err error) {
	h, err := newHook(m, ad)
	if err != nil {
		return nil, err
	}
	c, w := m.Config, m.Weights
	head, embed := w.LMHead, w.Embed
	for _, f := range ad.Saved {
		if f.Rows != c.VocabSize || f.Cols != c.HiddenSize {
			return nil, fmt.Errorf("lora: trained %s is [%d, %d]; the model needs [%d, %d]", f.Module, f.Rows, f.Cols, c.VocabSize, c.HiddenSize)
		}
	}
	if f := ad.GetSaved("lm_head"); f != nil {
		w.LMHead = f.W
	}
	if f := ad.GetSaved("embed_tokens"); f != nil {
		w.Embed = f.W
	}
	m.SetAdapter(h)
	return func() {
		m.SetAdapter(nil)
		w.LMHead, w.Embed = head, embed
	}, nil
}

// Merge adds every pair's scale·B·A into the model's weights in place
// (peft's merge_and_unload), and copies trained modules_to_save over the
// base ones. The weights must be writable: a model loaded
// from float32 safetensors maps them copy-on-write, so the file is never
// touched. Save the merged model with the model package's writer.
func Merge(m *model.Model, ad *lora.Adapter) error {
	if _, err := newHook(m, ad); err != nil {
		return err
	}
	for _, f := range ad.Saved {
		dst := m.Weights.LMHead
		if f.Module == "embed_tokens" {
			dst = m.Weights.Embed
		}
		if m.Config.TieWordEmbeddings || len(dst) != len(f.W) {
			return fmt.Errorf("lora: cannot merge trained %s into this model: it ties the LM head to the embedding, which the adapter trained apart (apply the adapter at inference instead), or the shapes differ", f.Module)
		}
		copy(dst, f.W)
	}
	for _, p := range ad.Pairs {
		proj, _ := model.ParseProj(p.Module)
		if err := p.MergeInto(m.Weights.Layers[p.Layer].Proj[proj].W, ad.Config.R, ad.Config.Scale()); err != nil {
			return err
		}
	}
	return nil
}
