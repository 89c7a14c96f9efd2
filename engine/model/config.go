// Package model implements the Llama family of decoder-only transformers
// (Llama, Mistral, Qwen2, Gemma) in float32 on the CPU: configuration,
// weights read from Hugging Face safetensors, the forward pass, a KV cache,
// greedy generation, log-likelihood scoring and seeded random models.
//
// Numerics follow transformers' eager float32 implementation step by step
// (RMSNorm in float32, rotary embeddings with the same inverse frequencies,
// softmax over float32 scores); logits agree with it to ~1e-7 on the
// reference tiny Llama.
//
// # Entry points
//
//	m, err := model.Load(dir)            // config.json + safetensors (mmap)
//	nll, err := m.NLL(ids)               // per-token next-token NLL
//	out, err := m.Generate(ctx, prompts, model.GenerateOptions{MaxNewTokens: 32})
//	ll, err := m.ScoreOptions(prompt, options)
//	err = model.Init(dir, model.InitConfig{...}) // seeded random HF model
//
// # Hooking in LoRA (or any adapter)
//
// Every linear projection of a decoder layer goes through
// (*Model).Project(layer, proj, x, rows, y), which computes the base
// y = x·Wᵀ + b and then, if an Adapter is installed (SetAdapter or
// WithAdapter), calls Adapter.AddDelta(layer, proj, x, rows, y). A LoRA
// adapter adds y += scale·(x·Aᵀ)·Bᵀ there with tensor.MatMulNT, e.g.
//
//	func (a *LoRA) AddDelta(l int, p model.Proj, x []float32, n int, y []float32) {
//		A, B := a.A[l][p], a.B[l][p] // [r×in], [out×r]; nil if not targeted
//		if A == nil { return }
//		t := make([]float32, n*a.r)
//		tensor.MatMulNT(t, x, A, n, a.r, in, false)
//		for i := range t { t[i] *= a.scale }
//		tensor.MatMulNT(y, t, B, n, out, a.r, true) // accumulate into y
//	}
//
// The base weights are never copied or modified. Training code that needs
// the intermediate activations can build its forward from the same pieces
// the inference forward uses: Weights (per-layer Linear with W [out×in]),
// RMSNorm, (*Rope).Apply / ApplyInverse, Activation, SoftmaxRow and
// (*Model).Project, so its numerics match (*Model).Step exactly.
package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
)

// Config is the subset of a Hugging Face config.json the engine needs,
// normalised across the supported architectures.
type Config struct {
	// Arch is the normalised model_type: "llama", "mistral", "qwen2" or "gemma".
	Arch                  string
	VocabSize             int
	HiddenSize            int
	IntermediateSize      int
	NumLayers             int
	NumHeads              int
	NumKVHeads            int
	HeadDim               int
	MaxPositionEmbeddings int
	RMSNormEps            float64
	RopeTheta             float64
	Rope                  RopeScaling
	TieWordEmbeddings     bool
	// AttentionBias: q/k/v/o projections carry a bias (Llama attention_bias);
	// QKVBias: only q/k/v do (Qwen2).
	AttentionBias bool
	QKVBias       bool
	MLPBias       bool
	// HiddenAct is the MLP gate activation: "silu" (SwiGLU) or a GELU
	// variant (GeGLU, Gemma).
	HiddenAct string
	// NormPlusOne: RMSNorm multiplies by (1+w) (Gemma).
	NormPlusOne bool
	// EmbedScale multiplies the embeddings by sqrt(hidden) (Gemma).
	EmbedScale bool
	// SlidingWindow > 0 limits attention to that many most recent positions (Mistral).
	SlidingWindow int
	BOSTokenID    int
	EOSTokenIDs   []int
	PadTokenID    int // -1 when unset
}

// RopeScaling describes rope_scaling / rope_parameters.
type RopeScaling struct {
	// Type is "default", "linear", "dynamic", "llama3" or "yarn".
	Type                          string
	Factor                        float64
	OriginalMaxPositionEmbeddings int
	LowFreqFactor, HighFreqFactor float64 // llama3
	BetaFast, BetaSlow            float64 // yarn
	Mscale, MscaleAllDim          float64 // yarn
	AttentionFactor               float64 // yarn; 0 = derived
	Truncate                      *bool   // yarn
}

// archs maps model_type to what the architecture needs beyond Llama.
var archs = map[string]bool{"llama": true, "mistral": true, "qwen2": true, "gemma": true}

var archByClass = map[string]string{
	"LlamaForCausalLM":   "llama",
	"MistralForCausalLM": "mistral",
	"Qwen2ForCausalLM":   "qwen2",
	"GemmaForCausalLM":   "gemma",
}

// LoadConfig reads a config.json.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(b, path)
}

// ParseConfig parses config.json bytes; name is used in errors.
func ParseConfig(data []byte, name string) (*Config, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line := 1 + strings.Count(string(data[:min(int(se.Offset), len(data))]), "\n")
			return nil, fmt.Errorf("%s:%d: invalid JSON: %v", name, line, err)
		}
		return nil, fmt.Errorf("%s: config must be a JSON object: %v", name, err)
	}
	p := &cfgParser{raw: raw, name: name}
	c := &Config{PadTokenID: -1}

	mt := p.str("model_type", "")
	var classes []string
	p.get("architectures", &classes)
	if mt == "" && len(classes) > 0 {
		mt = archByClass[classes[0]]
	}
	if mt == "" {
		return nil, fmt.Errorf("%s: missing \"model_type\" (and no known \"architectures\" entry): cannot tell the architecture; supported: %s", name, supported())
	}
	if !archs[mt] {
		return nil, fmt.Errorf("%s: unsupported architecture model_type %q (architectures %v); supported: %s", name, mt, classes, supported())
	}
	c.Arch = mt
	c.VocabSize = p.reqInt("vocab_size")
	c.HiddenSize = p.reqInt("hidden_size")
	c.IntermediateSize = p.reqInt("intermediate_size")
	c.NumLayers = p.reqInt("num_hidden_layers")
	c.NumHeads = p.reqInt("num_attention_heads")
	c.NumKVHeads = p.int("num_key_value_heads", c.NumHeads)
	c.MaxPositionEmbeddings = p.int("max_position_embeddings", 2048)
	c.RMSNormEps = p.float("rms_norm_eps", 1e-6)
	c.TieWordEmbeddings = p.bool("tie_word_embeddings", mt == "gemma")
	c.AttentionBias = p.bool("attention_bias", false)
	c.MLPBias = p.bool("mlp_bias", false)
	c.HiddenAct = p.str("hidden_act", "silu")
	if mt == "gemma" {
		// Gemma's config carries hidden_activation (gelu_pytorch_tanh); the
		// legacy hidden_act "gelu" is overridden by transformers likewise.
		c.HiddenAct = p.str("hidden_activation", "gelu_pytorch_tanh")
		c.NormPlusOne, c.EmbedScale = true, true
	}
	if mt == "qwen2" {
		c.QKVBias = true
	}
	if mt == "mistral" || (mt == "qwen2" && p.bool("use_sliding_window", false)) {
		c.SlidingWindow = p.int("sliding_window", 0)
	}
	if p.err != nil {
		return nil, p.err
	}
	if c.NumHeads <= 0 || c.HiddenSize <= 0 || c.NumKVHeads <= 0 || c.NumLayers <= 0 || c.VocabSize <= 0 || c.IntermediateSize <= 0 {
		return nil, fmt.Errorf("%s: sizes must be positive (hidden_size %d, num_attention_heads %d, num_key_value_heads %d, num_hidden_layers %d, vocab_size %d, intermediate_size %d)",
			name, c.HiddenSize, c.NumHeads, c.NumKVHeads, c.NumLayers, c.VocabSize, c.IntermediateSize)
	}
	if c.NumHeads%c.NumKVHeads != 0 {
		return nil, fmt.Errorf("%s: num_attention_heads %d is not a multiple of num_key_value_heads %d", name, c.NumHeads, c.NumKVHeads)
	}
	c.HeadDim = p.int("head_dim", 0)
	if c.HeadDim == 0 {
		if c.HiddenSize%c.NumHeads != 0 {
			return nil, fmt.Errorf("%s: hidden_size %d is not divisible by num_attention_heads %d and no \"head_dim\" is given", name, c.HiddenSize, c.NumHeads)
		}
		c.HeadDim = c.HiddenSize / c.NumHeads
	}
	if c.HeadDim%2 != 0 {
		return nil, fmt.Errorf("%s: head_dim %d must be even for rotary embeddings", name, c.HeadDim)
	}
	switch c.HiddenAct {
	case "silu", "swish", "gelu", "gelu_pytorch_tanh", "gelu_new", "gelu_fast":
	default:
		return nil, fmt.Errorf("%s: unsupported hidden_act %q (supported: silu, gelu, gelu_pytorch_tanh)", name, c.HiddenAct)
	}
	c.BOSTokenID = p.int("bos_token_id", -1)
	c.EOSTokenIDs = p.intOrList("eos_token_id")
	c.PadTokenID = p.int("pad_token_id", -1)
	if err := p.rope(c); err != nil {
		return nil, err
	}
	if p.err != nil {
		return nil, p.err
	}
	return c, nil
}

func supported() string {
	var s []string
	for k := range archs {
		s = append(s, k)
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

type cfgParser struct {
	raw  map[string]json.RawMessage
	name string
	err  error
}

func (p *cfgParser) fail(format string, a ...any) {
	if p.err == nil {
		p.err = fmt.Errorf("%s: "+format, append([]any{p.name}, a...)...)
	}
}

// get decodes key into v; it reports whether the key was present and not null.
func (p *cfgParser) get(key string, v any) bool {
	m, ok := p.raw[key]
	if !ok || string(m) == "null" {
		return false
	}
	if err := json.Unmarshal(m, v); err != nil {
		p.fail("field %q: %v", key, err)
		return false
	}
	return true
}

func (p *cfgParser) reqInt(key string) int {
	var v int
	if !p.get(key, &v) {
		p.fail("missing required field %q", key)
	}
	return v
}

func (p *cfgParser) int(key string, def int) int {
	v := def
	p.get(key, &v)
	return v
}

func (p *cfgParser) float(key string, def float64) float64 {
	v := def
	p.get(key, &v)
	return v
}

func (p *cfgParser) bool(key string, def bool) bool {
	v := def
	p.get(key, &v)
	return v
}

func (p *cfgParser) str(key, def string) string {
	v := def
	p.get(key, &v)
	return v
}

func (p *cfgParser) intOrList(key string) []int {
	m, ok := p.raw[key]
	if !ok || string(m) == "null" {
		return nil
	}
	var one int
	if json.Unmarshal(m, &one) == nil {
		return []int{one}
	}
	var list []int
	if err := json.Unmarshal(m, &list); err != nil {
		p.fail("field %q must be an integer or a list of integers", key)
	}
	return list
}

// rope reads rope_theta and rope_scaling (transformers 4) or rope_parameters
// (transformers 5, which folds rope_theta in).
func (p *cfgParser) rope(c *Config) error {
	c.RopeTheta = p.float("rope_theta", 10000)
	var params map[string]any
	src := "rope_scaling"
	if p.get("rope_parameters", &params) {
		src = "rope_parameters"
	} else {
		p.get("rope_scaling", &params)
	}
	if p.err != nil {
		return p.err
	}
	r := RopeScaling{Type: "default", Factor: 1}
	if params != nil {
		num := func(k string, def float64) float64 {
			v, ok := params[k]
			if !ok || v == nil {
				return def
			}
			f, ok := v.(float64)
			if !ok {
				p.fail("%s.%s must be a number", src, k)
			}
			return f
		}
		if th, ok := params["rope_theta"]; ok && th != nil {
			c.RopeTheta = num("rope_theta", c.RopeTheta)
		}
		t, _ := params["rope_type"].(string)
		if t == "" {
			t, _ = params["type"].(string)
		}
		if t == "" {
			t = "default"
		}
		r.Type = t
		r.Factor = num("factor", 1)
		r.OriginalMaxPositionEmbeddings = int(num("original_max_position_embeddings", 0))
		need := func(k string) {
			if _, ok := params[k]; !ok {
				p.fail("%s: rope type %q needs field %q", src, t, k)
			}
		}
		switch t {
		case "default":
		case "linear", "dynamic":
			need("factor")
		case "llama3":
			need("factor")
			need("low_freq_factor")
			need("high_freq_factor")
			need("original_max_position_embeddings")
			r.LowFreqFactor = num("low_freq_factor", 1)
			r.HighFreqFactor = num("high_freq_factor", 4)
		case "yarn":
			need("factor")
			r.BetaFast = num("beta_fast", 32)
			r.BetaSlow = num("beta_slow", 1)
			r.Mscale = num("mscale", 0)
			r.MscaleAllDim = num("mscale_all_dim", 0)
			r.AttentionFactor = num("attention_factor", 0)
			if v, ok := params["truncate"].(bool); ok {
				r.Truncate = &v
			}
		default:
			p.fail("%s: unsupported rope type %q (supported: default, linear, dynamic, llama3, yarn)", src, t)
		}
		if p.err == nil && r.Factor <= 0 {
			p.fail("%s.factor must be positive, got %v", src, r.Factor)
		}
	}
	if c.RopeTheta <= 0 || math.IsNaN(c.RopeTheta) {
		p.fail("rope_theta must be positive, got %v", c.RopeTheta)
	}
	c.Rope = r
	return p.err
}

// KVDim is the width of the key/value projections.
func (c *Config) KVDim() int { return c.NumKVHeads * c.HeadDim }

// QDim is the width of the query projection.
func (c *Config) QDim() int { return c.NumHeads * c.HeadDim }

// IsEOS reports whether id ends generation.
func (c *Config) IsEOS(id int) bool {
	for _, e := range c.EOSTokenIDs {
		if e == id {
			return true
		}
	}
	return false
}

// NumParams counts the model's parameters (tied embeddings once).
func (c *Config) NumParams() int {
	h, q, kv, in := c.HiddenSize, c.QDim(), c.KVDim(), c.IntermediateSize
	per := h*q + 2*h*kv + q*h + 3*h*in + 2*h
	if c.QKVBias {
		per += q + 2*kv
	}
	n := c.NumLayers*per + c.VocabSize*h + h
	if !c.TieWordEmbeddings {
		n += c.VocabSize * h
	}
	return n
}
