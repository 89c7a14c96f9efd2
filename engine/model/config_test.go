package model

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const baseCfg = `{"model_type":"llama","vocab_size":100,"hidden_size":16,"intermediate_size":32,
"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2%s}`

func TestConfigErrors(t *testing.T) {
	cases := []struct{ name, json, want string }{
		{"missing hidden", `{"model_type":"llama","vocab_size":10,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2}`, `missing required field "hidden_size"`},
		{"missing vocab", `{"model_type":"llama","hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2}`, `missing required field "vocab_size"`},
		{"unsupported arch", `{"model_type":"gpt2","architectures":["GPT2LMHeadModel"]}`, `unsupported architecture model_type "gpt2"`},
		{"no arch", `{"hidden_size":8}`, `missing "model_type"`},
		{"bad json", "{\n\"model_type\": llama}", "config.json:2: invalid JSON"},
		{"gqa", strings.Replace(baseCfg, `"num_key_value_heads":2`, `"num_key_value_heads":3`, 1), "not a multiple"},
		{"wrong type", strings.Replace(baseCfg, `"vocab_size":100`, `"vocab_size":"100"`, 1), `field "vocab_size"`},
		{"rope type", baseCfg[:len(baseCfg)-3] + `,"rope_scaling":{"rope_type":"longrope","factor":2}}`, `unsupported rope type "longrope"`},
		{"llama3 field", baseCfg[:len(baseCfg)-3] + `,"rope_scaling":{"rope_type":"llama3","factor":8}}`, `needs field "low_freq_factor"`},
		{"act", baseCfg[:len(baseCfg)-3] + `,"hidden_act":"relu"}`, `unsupported hidden_act "relu"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			js := strings.Replace(c.json, "%s", "", 1)
			_, err := ParseConfig([]byte(js), "config.json")
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "config.json") {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

func TestConfigVariants(t *testing.T) {
	cases := []struct {
		extra string
		check func(*Config) bool
	}{
		{``, func(c *Config) bool {
			return c.HeadDim == 4 && c.RopeTheta == 10000 && c.Rope.Type == "default" && c.NumKVHeads == 2
		}},
		{`,"rope_parameters":{"rope_theta":500000.0,"rope_type":"default"}`, func(c *Config) bool { return c.RopeTheta == 500000 }},
		{`,"rope_theta":1e6,"rope_scaling":{"type":"linear","factor":4}`, func(c *Config) bool { return c.RopeTheta == 1e6 && c.Rope.Type == "linear" && c.Rope.Factor == 4 }},
		{`,"rope_scaling":{"rope_type":"llama3","factor":8,"low_freq_factor":1,"high_freq_factor":4,"original_max_position_embeddings":8192}`, func(c *Config) bool { return c.Rope.Type == "llama3" && c.Rope.OriginalMaxPositionEmbeddings == 8192 }},
		{`,"rope_scaling":{"rope_type":"yarn","factor":4,"original_max_position_embeddings":32}`, func(c *Config) bool { return c.Rope.Type == "yarn" && c.Rope.BetaFast == 32 }},
		{`,"eos_token_id":[2,7],"tie_word_embeddings":true`, func(c *Config) bool { return c.IsEOS(7) && c.IsEOS(2) && c.TieWordEmbeddings }},
	}
	for _, c := range cases {
		cfg, err := ParseConfig([]byte(strings.Replace(baseCfg, "%s", c.extra, 1)), "config.json")
		if err != nil {
			t.Fatalf("%s: %v", c.extra, err)
		}
		if !c.check(cfg) {
			t.Errorf("%s: unexpected %+v", c.extra, cfg)
		}
	}
	plain := strings.Replace(baseCfg, "%s", "", 1)
	q, _ := ParseConfig([]byte(strings.Replace(plain, `"llama"`, `"qwen2"`, 1)), "c")
	g, _ := ParseConfig([]byte(strings.Replace(plain, `"llama"`, `"gemma"`, 1)), "c")
	if !q.QKVBias || !g.NormPlusOne || !g.EmbedScale || !g.TieWordEmbeddings || g.HiddenAct != "gelu_pytorch_tanh" {
		t.Errorf("arch defaults: qwen2 %+v gemma %+v", q, g)
	}
}

// TestRopeVariants checks the inverse frequencies against values computed
// by transformers' rope init functions.
func TestRopeVariants(t *testing.T) {
	mk := func(extra string) *Rope {
		c, err := ParseConfig([]byte(`{"model_type":"llama","vocab_size":10,"hidden_size":128,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,"max_position_embeddings":8192`+extra+`}`), "c")
		if err != nil {
			t.Fatal(err)
		}
		return NewRope(c)
	}
	def := mk(``)
	lin := mk(`,"rope_scaling":{"type":"linear","factor":4}`)
	for i := range def.invFreq {
		if math.Abs(float64(lin.invFreq[i]*4-def.invFreq[i])) > 1e-9 {
			t.Fatalf("linear %d", i)
		}
	}
	// Llama 3: high frequencies unchanged, low ones divided by factor.
	l3 := mk(`,"rope_theta":500000,"rope_scaling":{"rope_type":"llama3","factor":8,"low_freq_factor":1,"high_freq_factor":4,"original_max_position_embeddings":8192}`)
	base := mk(`,"rope_theta":500000`)
	if l3.invFreq[0] != base.invFreq[0] || math.Abs(float64(l3.invFreq[31]*8/base.invFreq[31])-1) > 1e-6 {
		t.Errorf("llama3: %v vs %v", l3.invFreq[31], base.invFreq[31])
	}
	// Yarn: attention factor 0.1·ln(4)+1.
	y := mk(`,"rope_scaling":{"rope_type":"yarn","factor":4,"original_max_position_embeddings":2048}`)
	if math.Abs(float64(y.attScale)-(0.1*math.Log(4)+1)) > 1e-6 || y.invFreq[0] != def.invFreq[0] {
		t.Errorf("yarn: scale %v", y.attScale)
	}
	// Dynamic: unchanged inside the original context, lower beyond it.
	d := mk(`,"rope_scaling":{"type":"dynamic","factor":2}`)
	if d.freqsFor(100)[10] != def.invFreq[10] || !(d.freqsFor(20000)[10] < def.invFreq[10]) {
		t.Error("dynamic")
	}
	// Inverse undoes Apply.
	x := []float32{1, 2, 3, 4}
	r := &Rope{dim: 4, invFreq: []float32{1, 0.01}, attScale: 1, cfg: &Config{}}
	r.Apply(x, 1, 1, []int{7})
	r.ApplyInverse(x, 1, 1, []int{7})
	for i, want := range []float32{1, 2, 3, 4} {
		if math.Abs(float64(x[i]-want)) > 1e-6 {
			t.Fatalf("inverse rope: %v", x)
		}
	}
}

func initTiny(t testing.TB, arch string, seed uint64) string {
	dir := t.TempDir()
	err := Init(dir, InitConfig{Arch: arch, Layers: 2, Hidden: 64, Heads: 4, KVHeads: 2, Intermediate: 128, Vocab: 300, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestInitDeterministic(t *testing.T) {
	a, b, c := initTiny(t, "llama", 7), initTiny(t, "llama", 7), initTiny(t, "llama", 8)
	for _, f := range []string{"config.json", "model.safetensors", "generation_config.json"} {
		x, _ := os.ReadFile(filepath.Join(a, f))
		y, _ := os.ReadFile(filepath.Join(b, f))
		z, _ := os.ReadFile(filepath.Join(c, f))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs for the same seed", f)
		}
		if f == "model.safetensors" && bytes.Equal(x, z) {
			t.Error("different seeds gave the same weights")
		}
	}
	if err := Init(t.TempDir(), InitConfig{Arch: "gpt2", Layers: 1, Hidden: 8, Heads: 2, Intermediate: 8, Vocab: 10}); err == nil || !strings.Contains(err.Error(), "unsupported --arch") {
		t.Fatal(err)
	}
}

// TestArchitectures loads a random model of every architecture and checks
// that batched, cached and uncached computations agree, that results are
// byte-identical for any GOMAXPROCS, and the arch-specific pieces.
func TestArchitectures(t *testing.T) {
	for _, arch := range []string{"llama", "mistral", "qwen2", "gemma"} {
		t.Run(arch, func(t *testing.T) {
			m, err := Load(initTiny(t, arch, 1))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			ids := []int{1, 5, 9, 200, 3, 77, 42, 8, 250, 11}
			var ref []float64
			for _, procs := range []int{1, 2, 4} {
				old := runtime.GOMAXPROCS(procs)
				nll, err := m.NLL(ids)
				runtime.GOMAXPROCS(old)
				if err != nil {
					t.Fatal(err)
				}
				if ref == nil {
					ref = nll
					continue
				}
				for i := range nll {
					if math.Float64bits(nll[i]) != math.Float64bits(ref[i]) {
						t.Fatalf("GOMAXPROCS=%d: nll[%d] differs", procs, i)
					}
				}
			}
			// Incremental decoding through the cache matches one pass.
			c := m.NewCache()
			V := m.Config.VocabSize
			full, _ := m.Forward(ids)
			for i, id := range ids {
				hs, err := m.Step([]*Cache{c}, [][]int{{id}})
				if err != nil {
					t.Fatal(err)
				}
				lg := m.Logits(hs, 1)
				for j := 0; j < V; j++ {
					if d := math.Abs(float64(lg[j] - full[i*V+j])); d > 1e-5 {
						t.Fatalf("pos %d logit %d: cached %v full %v", i, j, lg[j], full[i*V+j])
					}
				}
			}
			if arch == "qwen2" && m.Weights.Layers[0].Proj[ProjQ].B == nil {
				t.Error("qwen2 without q bias")
			}
			if arch == "gemma" && &m.Weights.LMHead[0] != &m.Weights.Embed[0] {
				t.Error("gemma embeddings not tied")
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := initTiny(t, "llama", 3)
	// Truncated weights.
	p := filepath.Join(dir, "model.safetensors")
	b, _ := os.ReadFile(p)
	os.WriteFile(p, b[:len(b)/2], 0o644)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "model.safetensors") {
		t.Fatalf("truncated: %v", err)
	}
	// Shape mismatch between config and weights.
	dir = initTiny(t, "llama", 3)
	cfg, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	os.WriteFile(filepath.Join(dir, "config.json"), bytes.Replace(cfg, []byte(`"intermediate_size": 128`), []byte(`"intermediate_size": 96`), 1), 0o644)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "config.json implies") {
		t.Fatalf("shape: %v", err)
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Fatalf("empty dir: %v", err)
	}
}
