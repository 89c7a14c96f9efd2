package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/crossin-lab/crossin/atomicfile"
	"github.com/crossin-lab/crossin/engine/safetensors"
	"github.com/crossin-lab/crossin/engine/tokenizer"
)

// InitConfig describes a random model for Init.
type InitConfig struct {
	Arch         string // llama (default), mistral, qwen2 or gemma
	Layers       int
	Hidden       int
	Heads        int
	KVHeads      int // 0 = Heads
	Intermediate int
	// Tokenizer is a tokenizer.json to copy into the model; its vocabulary
	// size and BOS/EOS set the model's. Its tokenizer_config.json is copied
	// too when it sits beside it ("tokenizer.json" ↔ "tokenizer_config.json",
	// "NAME.tokenizer.json" ↔ "NAME.tokenizer_config.json").
	Tokenizer string
	// Vocab is the vocabulary size when no tokenizer is given (or larger
	// than the tokenizer's, to pad the embedding).
	Vocab        int
	Seed         uint64
	MaxPositions int     // default 2048
	RopeTheta    float64 // default 10000
	Tie          bool    // tie_word_embeddings (Gemma always ties)
	InitStd      float64 // default 0.02, transformers' initializer_range
	// HeadDim is the attention head size; 0 means Hidden/Heads. Gemma-7B's
	// (256) is not hidden/heads (3072/16).
	HeadDim int
	// SlidingWindow > 0 sets Mistral's sliding_window (default null: full
	// attention).
	SlidingWindow int
}

// Init writes a seeded random model in Hugging Face format into dir:
// config.json, generation_config.json, model.safetensors (float32) and the
// tokenizer files. Weights are drawn as transformers initialises them
// (normal(0, initializer_range) for embeddings and projections, ones for
// norms, zeros for biases), from a PCG stream seeded by Seed in a fixed
// tensor order, so the same InitConfig gives byte-identical files.
func Init(dir string, ic InitConfig) error {
	if ic.Arch == "" {
		ic.Arch = "llama"
	}
	if ic.KVHeads == 0 {
		ic.KVHeads = ic.Heads
	}
	if ic.MaxPositions == 0 {
		ic.MaxPositions = 2048
	}
	if ic.RopeTheta == 0 {
		ic.RopeTheta = 10000
	}
	if ic.InitStd == 0 {
		ic.InitStd = 0.02
	}
	class, ok := map[string]string{"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM", "gemma": "GemmaForCausalLM"}[ic.Arch]
	if !ok {
		return fmt.Errorf("model init: unsupported --arch %q (supported: %s)", ic.Arch, supported())
	}
	switch {
	case ic.Layers <= 0, ic.Hidden <= 0, ic.Heads <= 0, ic.Intermediate <= 0, ic.KVHeads <= 0:
		return fmt.Errorf("model init: layers (%d), hidden (%d), heads (%d), kv-heads (%d) and intermediate (%d) must be positive", ic.Layers, ic.Hidden, ic.Heads, ic.KVHeads, ic.Intermediate)
	case ic.Heads%ic.KVHeads != 0:
		return fmt.Errorf("model init: heads %d is not a multiple of kv-heads %d", ic.Heads, ic.KVHeads)
	case ic.HeadDim < 0 || ic.SlidingWindow < 0:
		return fmt.Errorf("model init: head-dim (%d) and sliding-window (%d) must not be negative", ic.HeadDim, ic.SlidingWindow)
	case ic.SlidingWindow > 0 && ic.Arch != "mistral":
		return fmt.Errorf("model init: --sliding-window is for --arch mistral, not %s", ic.Arch)
	}
	hd := ic.HeadDim
	if hd == 0 {
		if ic.Hidden%ic.Heads != 0 {
			return fmt.Errorf("model init: hidden %d is not divisible by heads %d (give --head-dim)", ic.Hidden, ic.Heads)
		}
		hd = ic.Hidden / ic.Heads
	}
	if hd%2 != 0 {
		return fmt.Errorf("model init: head dimension %d must be even", hd)
	}
	vocab, bos, eos := ic.Vocab, 1, 2
	var tokFiles [][2]string // source, destination name
	if ic.Tokenizer != "" {
		tk, err := tokenizer.Load(ic.Tokenizer)
		if err != nil {
			return fmt.Errorf("model init: %w", err)
		}
		vocab = max(vocab, tk.VocabSize())
		if id, ok := tk.BOS(); ok {
			bos = id
		}
		if id, ok := tk.EOS(); ok {
			eos = id
		}
		tokFiles = append(tokFiles, [2]string{ic.Tokenizer, "tokenizer.json"})
		if strings.HasSuffix(ic.Tokenizer, "tokenizer.json") {
			tc := strings.TrimSuffix(ic.Tokenizer, "tokenizer.json") + "tokenizer_config.json"
			if _, err := os.Stat(tc); err == nil {
				tokFiles = append(tokFiles, [2]string{tc, "tokenizer_config.json"})
			}
		}
	}
	if vocab <= 0 {
		return fmt.Errorf("model init: give --tokenizer or a positive --vocab")
	}
	tie := ic.Tie || ic.Arch == "gemma"
	cfgJSON := map[string]any{
		"architectures":           []string{class},
		"model_type":              ic.Arch,
		"vocab_size":              vocab,
		"hidden_size":             ic.Hidden,
		"intermediate_size":       ic.Intermediate,
		"num_hidden_layers":       ic.Layers,
		"num_attention_heads":     ic.Heads,
		"num_key_value_heads":     ic.KVHeads,
		"head_dim":                hd,
		"max_position_embeddings": ic.MaxPositions,
		"rms_norm_eps":            1e-5,
		"rope_theta":              ic.RopeTheta,
		"rope_scaling":            nil,
		"tie_word_embeddings":     tie,
		"initializer_range":       ic.InitStd,
		"hidden_act":              "silu",
		"attention_dropout":       0.0,
		"bos_token_id":            bos,
		"eos_token_id":            eos,
		"torch_dtype":             "float32",
		"use_cache":               true,
	}
	switch ic.Arch {
	case "llama":
		cfgJSON["attention_bias"] = false
		cfgJSON["mlp_bias"] = false
		cfgJSON["pretraining_tp"] = 1
	case "mistral":
		cfgJSON["sliding_window"] = nil
		if ic.SlidingWindow > 0 {
			cfgJSON["sliding_window"] = ic.SlidingWindow
		}
	case "qwen2":
		cfgJSON["use_sliding_window"] = false
		cfgJSON["sliding_window"] = nil
		cfgJSON["max_window_layers"] = ic.Layers
	case "gemma":
		cfgJSON["hidden_act"] = "gelu_pytorch_tanh"
		cfgJSON["hidden_activation"] = "gelu_pytorch_tanh"
		cfgJSON["rms_norm_eps"] = 1e-6
	}
	cfgBytes, err := jsonIndent(cfgJSON)
	if err != nil {
		return err
	}
	cfg, err := ParseConfig(cfgBytes, "config.json")
	if err != nil {
		return fmt.Errorf("model init: generated config is invalid: %w", err)
	}
	genBytes, err := jsonIndent(map[string]any{"_from_model_config": true, "bos_token_id": bos, "eos_token_id": eos})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tensors := randomTensors(cfg, ic.Seed, ic.InitStd)
	if err := safetensors.WriteFile(filepath.Join(dir, safetensors.SingleName), tensors, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{"config.json", cfgBytes}, {"generation_config.json", genBytes}} {
		if err := atomicfile.Write(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			return err
		}
	}
	for _, tf := range tokFiles {
		b, err := os.ReadFile(tf[0])
		if err != nil {
			return err
		}
		if err := atomicfile.Write(filepath.Join(dir, tf[1]), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func jsonIndent(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// randomTensors draws every weight in a fixed order from one PCG stream,
// straight into little-endian float32 bytes (one copy of the weights).
func randomTensors(c *Config, seed uint64, std float64) []safetensors.Tensor {
	rng := rand.New(rand.NewPCG(seed, 0x63726f7373696e)) // "crossin"
	normal := func(n int) []byte {
		b := make([]byte, 4*n)
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(rng.NormFloat64()*std)))
		}
		return b
	}
	fill := func(n int, x float32) []byte {
		b := make([]byte, 4*n)
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
		return b
	}
	normInit := float32(1)
	if c.NormPlusOne {
		normInit = 0 // Gemma stores w of (1+w)
	}
	h, q, kv, in := c.HiddenSize, c.QDim(), c.KVDim(), c.IntermediateSize
	var ts []safetensors.Tensor
	add := func(name string, data []byte, shape ...int) {
		ts = append(ts, safetensors.Tensor{Name: name, DType: safetensors.F32, Shape: shape, Data: data})
	}
	add("model.embed_tokens.weight", normal(c.VocabSize*h), c.VocabSize, h)
	dims := [NumProj][2]int{{q, h}, {kv, h}, {kv, h}, {h, q}, {in, h}, {in, h}, {h, in}}
	for l := 0; l < c.NumLayers; l++ {
		pre := LayerPrefix(l)
		for p := Proj(0); p < NumProj; p++ {
			name := pre + "." + p.Module()
			add(name+".weight", normal(dims[p][0]*dims[p][1]), dims[p][0], dims[p][1])
			if c.hasBias(p) {
				add(name+".bias", fill(dims[p][0], 0), dims[p][0])
			}
		}
		add(pre+".input_layernorm.weight", fill(h, normInit), h)
		add(pre+".post_attention_layernorm.weight", fill(h, normInit), h)
	}
	add("model.norm.weight", fill(h, normInit), h)
	if !c.TieWordEmbeddings {
		add("lm_head.weight", normal(c.VocabSize*h), c.VocabSize, h)
	}
	return ts
}
