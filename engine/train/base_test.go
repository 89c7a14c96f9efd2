package train

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/crossin-lab/crossin/engine/safetensors"
)

// loadTestBase reads a Llama directory straight from its safetensors.
func loadTestBase(t testing.TB, dir string) *Base {
	t.Helper()
	var cfg struct {
		Vocab   int     `json:"vocab_size"`
		Hidden  int     `json:"hidden_size"`
		Inter   int     `json:"intermediate_size"`
		Layers  int     `json:"num_hidden_layers"`
		Heads   int     `json:"num_attention_heads"`
		KV      int     `json:"num_key_value_heads"`
		HeadDim int     `json:"head_dim"`
		Eps     float64 `json:"rms_norm_eps"`
		Rope    struct {
			Theta float64 `json:"rope_theta"`
		} `json:"rope_parameters"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	set, err := safetensors.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
	get := func(name string) []float32 {
		v, _, err := set.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	d := Dims{Vocab: cfg.Vocab, Hidden: cfg.Hidden, Inter: cfg.Inter, Layers: cfg.Layers, Heads: cfg.Heads,
		KVHeads: cfg.KV, HeadDim: cfg.HeadDim, NormEps: cfg.Eps, InvFreq: DefaultInvFreq(cfg.Rope.Theta, cfg.HeadDim)}
	b := &Base{Dims: d, Embed: get("model.embed_tokens.weight"), LMHead: get("lm_head.weight"), FinalNorm: get("model.norm.weight")}
	for i := 0; i < d.Layers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		b.Layers = append(b.Layers, Layer{
			AttnNorm: get(p + "input_layernorm.weight"), MLPNorm: get(p + "post_attention_layernorm.weight"),
			Q: get(p + "self_attn.q_proj.weight"), K: get(p + "self_attn.k_proj.weight"), V: get(p + "self_attn.v_proj.weight"),
			O: get(p + "self_attn.o_proj.weight"), Gate: get(p + "mlp.gate_proj.weight"), Up: get(p + "mlp.up_proj.weight"),
			Down: get(p + "mlp.down_proj.weight")})
	}
	return b
}
