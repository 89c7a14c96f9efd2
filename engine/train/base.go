package train

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/crossin-lab/crossin/engine/model"
)

// Dims are the shapes of a Llama-family decoder and the few settings by
// which the families' arithmetic differs (zero values: Llama's).
type Dims struct {
	Vocab, Hidden, Inter int
	Layers               int
	Heads, KVHeads       int
	HeadDim              int // from the config: Gemma's need not be Hidden/Heads
	NormEps              float64
	// InvFreq are RoPE's inverse frequencies (HeadDim/2 values), already
	// adjusted for any rope_scaling variant, as the inference engine uses.
	InvFreq []float32
	// EmbedScale multiplies the embeddings (Gemma: sqrt(Hidden) rounded to
	// float32, as transformers' normalizer); 0 means none.
	EmbedScale float32 `json:",omitempty"`
	// Act is the MLP gate's activation (hidden_act): "" or "silu" for
	// SwiGLU, "gelu_pytorch_tanh" (Gemma's GeGLU), "gelu" (erf).
	Act string `json:",omitempty"`
	// SlidingWindow > 0 lets each position attend only to that many most
	// recent positions, itself included (Mistral).
	SlidingWindow int `json:",omitempty"`
}

// DefaultInvFreq computes 1/theta^(2i/d) the way transformers' default
// rope init does, in float32 (arange(0, d, 2).float()/d, then pow, then
// reciprocal), so the tables agree with PyTorch to the last bit or so.
func DefaultInvFreq(theta float64, headDim int) []float32 {
	inv := make([]float32, headDim/2)
	for i := range inv {
		e := float32(2*i) / float32(headDim)
		p := float32(math.Pow(float64(float32(theta)), float64(e)))
		inv[i] = 1 / p
	}
	return inv
}

// Layer holds one decoder layer's frozen weights in Hugging Face layout
// ([out, in] row-major for projections).
type Layer struct {
	AttnNorm, Q, K, V, O []float32
	MLPNorm, Gate, Up    []float32
	Down                 []float32
	// Bias holds each projection's bias, indexed by model.Proj; nil
	// entries have none (Llama has none; Qwen2 has q/k/v biases).
	Bias [numProj][]float32
}

// Rotator applies rotary embeddings: the inference engine's *model.Rope
// satisfies it, so training rotates exactly as inference does, rope_scaling
// variants included.
type Rotator interface {
	Apply(x []float32, rows, heads int, pos []int)
	ApplyInverse(x []float32, rows, heads int, pos []int)
}

// Base is the frozen model a LoRA adapter is trained on. Its slices may
// alias the inference engine's weights: training never writes to them.
type Base struct {
	Dims
	Embed     []float32 // [Vocab, Hidden]
	LMHead    []float32 // [Vocab, Hidden]; equal to Embed when tied
	FinalNorm []float32
	Layers    []Layer
	// Rope, when set, replaces the tables built from Dims.InvFreq.
	Rope Rotator
}

// Shape gives a projection's [out, in] shape.
func (d Dims) Shape(module string) (in, out int) {
	q, kv := d.Heads*d.HeadDim, d.KVHeads*d.HeadDim
	switch module {
	case "q_proj":
		return d.Hidden, q
	case "k_proj", "v_proj":
		return d.Hidden, kv
	case "o_proj":
		return q, d.Hidden
	case "gate_proj", "up_proj":
		return d.Hidden, d.Inter
	case "down_proj":
		return d.Inter, d.Hidden
	}
	return 0, 0
}

// The projections of a decoder layer, named as the inference engine names
// them (model.Proj, in lora.Modules order).
const (
	projQ    = model.ProjQ
	projK    = model.ProjK
	projV    = model.ProjV
	projO    = model.ProjO
	projGate = model.ProjGate
	projUp   = model.ProjUp
	projDown = model.ProjDown
	numProj  = model.NumProj
)

// proj returns the weight of projection p ([out, in]).
func (l *Layer) proj(p model.Proj) []float32 {
	return *l.slot(p)
}

func (l *Layer) slot(p model.Proj) *[]float32 {
	switch p {
	case projQ:
		return &l.Q
	case projK:
		return &l.K
	case projV:
		return &l.V
	case projO:
		return &l.O
	case projGate:
		return &l.Gate
	case projUp:
		return &l.Up
	}
	return &l.Down
}

// Validate checks every weight's length against the dimensions.
func (b *Base) Validate() error {
	d := b.Dims
	if d.Hidden <= 0 || d.Vocab <= 0 || d.Heads <= 0 || d.KVHeads <= 0 || d.Heads%d.KVHeads != 0 || d.HeadDim%2 != 0 {
		return fmt.Errorf("train: bad dimensions %+v", d)
	}
	if _, err := gateFor(d.Act); err != nil {
		return err
	}
	if b.Rope == nil && len(d.InvFreq) != d.HeadDim/2 {
		return fmt.Errorf("train: %d RoPE frequencies for head dim %d", len(d.InvFreq), d.HeadDim)
	}
	check := func(name string, v []float32, n int) error {
		if len(v) != n {
			return fmt.Errorf("train: %s has %d values, want %d", name, len(v), n)
		}
		return nil
	}
	if err := check("embed_tokens", b.Embed, d.Vocab*d.Hidden); err != nil {
		return err
	}
	if err := check("lm_head", b.LMHead, d.Vocab*d.Hidden); err != nil {
		return err
	}
	if err := check("norm", b.FinalNorm, d.Hidden); err != nil {
		return err
	}
	if len(b.Layers) != d.Layers {
		return fmt.Errorf("train: %d layers, config says %d", len(b.Layers), d.Layers)
	}
	for i := range b.Layers {
		l := &b.Layers[i]
		for p := model.Proj(0); p < numProj; p++ {
			in, out := d.Shape(p.String())
			if err := check(fmt.Sprintf("layers.%d.%s", i, p), l.proj(p), in*out); err != nil {
				return err
			}
		}
		if err := check(fmt.Sprintf("layers.%d.input_layernorm", i), l.AttnNorm, d.Hidden); err != nil {
			return err
		}
		if err := check(fmt.Sprintf("layers.%d.post_attention_layernorm", i), l.MLPNorm, d.Hidden); err != nil {
			return err
		}
	}
	return nil
}

// RandomBase returns a seeded random Llama with small weights: for tests
// and benchmarks that must not depend on files.
func RandomBase(d Dims, seed uint64) *Base {
	rng := rand.New(rand.NewPCG(seed, 0xba5e))
	fill := func(n int, std float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * std)
		}
		return v
	}
	ones := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(1 + 0.1*rng.NormFloat64())
		}
		return v
	}
	b := &Base{Dims: d}
	b.Embed = fill(d.Vocab*d.Hidden, 0.5)
	b.LMHead = fill(d.Vocab*d.Hidden, 0.1)
	b.FinalNorm = ones(d.Hidden)
	for i := 0; i < d.Layers; i++ {
		var l Layer
		l.AttnNorm, l.MLPNorm = ones(d.Hidden), ones(d.Hidden)
		for p := model.Proj(0); p < numProj; p++ {
			in, out := d.Shape(p.String())
			*l.slot(p) = fill(in*out, 1/math.Sqrt(float64(in)))
		}
		b.Layers = append(b.Layers, l)
	}
	return b
}

// IgnoreIndex marks a label that does not count in the loss (PyTorch's
// CrossEntropyLoss ignore_index).
const IgnoreIndex = -100

// Batch is a right-padded micro-batch, row-major [B, T].
type Batch struct {
	B, T   int
	IDs    []int32
	Labels []int32 // unshifted, as in Hugging Face: position t is predicted from t-1; IgnoreIndex on prompt and padding
	Mask   []uint8 // attention mask: 1 for tokens, 0 for padding
	// DropSeed seeds this micro-batch's LoRA dropout masks.
	DropSeed uint64
}

// Items counts the tokens that contribute to the loss (labels after the
// shift that are not IgnoreIndex): Hugging Face's num_items_in_batch.
func (b *Batch) Items() int {
	n := 0
	for r := 0; r < b.B; r++ {
		for t := 1; t < b.T; t++ {
			if b.Labels[r*b.T+t] != IgnoreIndex {
				n++
			}
		}
	}
	return n
}

// RowItems counts row r's tokens that contribute to the loss.
func (b *Batch) RowItems(r int) int {
	n := 0
	for t := 1; t < b.T; t++ {
		if b.Labels[r*b.T+t] != IgnoreIndex {
			n++
		}
	}
	return n
}

// Validate checks ids against the vocabulary and the shapes.
func (b *Batch) Validate(vocab int) error {
	n := b.B * b.T
	if b.B <= 0 || b.T <= 0 || len(b.IDs) != n || len(b.Labels) != n || len(b.Mask) != n {
		return fmt.Errorf("train: batch %d×%d with %d ids, %d labels, %d mask values", b.B, b.T, len(b.IDs), len(b.Labels), len(b.Mask))
	}
	for i, id := range b.IDs {
		if id < 0 || int(id) >= vocab {
			return fmt.Errorf("train: token id %d at row %d position %d is outside the vocabulary (size %d)", id, i/b.T, i%b.T, vocab)
		}
		if l := b.Labels[i]; l != IgnoreIndex && (l < 0 || int(l) >= vocab) {
			return fmt.Errorf("train: label %d at row %d position %d is outside the vocabulary (size %d)", l, i/b.T, i%b.T, vocab)
		}
	}
	for r := 0; r < b.B; r++ {
		if b.Mask[r*b.T] == 0 {
			return fmt.Errorf("train: row %d starts with padding; batches must be right-padded", r)
		}
	}
	return nil
}
