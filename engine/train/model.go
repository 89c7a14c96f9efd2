package train

import (
	"fmt"

	"github.com/crossin-lab/crossin/engine/lora"
	"github.com/crossin-lab/crossin/engine/model"
)

// FromModel wraps a loaded inference model as the frozen base of a LoRA
// run. The weights are shared, not copied, and the model's own RoPE is used,
// so the training forward computes what the inference forward computes.
// Architectures whose training path is not written yet are refused with
// the missing piece named.
func FromModel(m *model.Model) (*Base, error) {
	c := m.Config
	switch {
	case c.NormPlusOne || c.EmbedScale:
		return nil, fmt.Errorf("train: %s models ((1+w) RMSNorm, scaled embeddings) are not supported by the embedded trainer yet; use llama, mistral or qwen2", c.Arch)
	case c.HiddenAct != "" && c.HiddenAct != "silu" && c.HiddenAct != "swish":
		return nil, fmt.Errorf("train: hidden_act %q: the embedded trainer only has the SwiGLU (silu) backward pass", c.HiddenAct)
	}
	w := m.Weights
	b := &Base{
		Dims: Dims{Vocab: c.VocabSize, Hidden: c.HiddenSize, Inter: c.IntermediateSize, Layers: c.NumLayers,
			Heads: c.NumHeads, KVHeads: c.NumKVHeads, HeadDim: c.HeadDim, NormEps: c.RMSNormEps},
		Embed: w.Embed, LMHead: w.LMHead, FinalNorm: w.Norm, Rope: m.Rope(),
	}
	for i := range w.Layers {
		L := &w.Layers[i]
		l := Layer{AttnNorm: L.InputNorm, MLPNorm: L.PostAttnNorm}
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

// MaxLength reports the longest sequence the model may be trained on with
// its attention exactly as inference computes it (sliding-window attention
// is not implemented in the training path).
func MaxLength(m *model.Model) int {
	if w := m.Config.SlidingWindow; w > 0 {
		return w
	}
	return 0
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
	z := make([]float32, n*r)
	th := h.m.Threads()
	th.MatMulNT(z, x[:n*pr.In], pr.A, n, r, pr.In, false)
	t := make([]float32, n*pr.Out)
	th.MatMulNT(t, z, pr.B, n, pr.Out, r, false)
	for i, v := range t {
		y[i] += v * h.scale
	}
}

// Apply installs the adapter in the model for inference: the LoRA hook on
// the projections and, for modules_to_save, the trained LM head or
// embedding in place of the base ones. undo restores the base model.
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
		if c.TieWordEmbeddings {
			return nil, fmt.Errorf("lora: modules_to_save %s on a model with tied embeddings is not supported", f.Module)
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
			return fmt.Errorf("lora: cannot merge trained %s into this model (tied embeddings or another shape)", f.Module)
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
