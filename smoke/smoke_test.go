package smoke_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/engine/model"
	"github.com/crossin-lab/crossin/mixture"
	"github.com/crossin-lab/crossin/reports"
	"github.com/crossin-lab/crossin/runner/plan"
	"github.com/crossin-lab/crossin/schema"
	"github.com/crossin-lab/crossin/smoke"
	"github.com/crossin-lab/crossin/smoke/standin"
)

const checkout = ".."

func loadReduced(t *testing.T) *schema.Spec {
	t.Helper()
	spec, err := schema.Load(filepath.Join("testdata", "reduced.cue"))
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// Spec moves every experiment to the embedded engine, bounds training and
// evaluation, titles every layout as a smoke run, and leaves the input
// spec as it was.
func TestSpec(t *testing.T) {
	spec := loadReduced(t)
	before, _ := json.Marshal(spec)
	o := smoke.Default()
	s, err := smoke.Spec(spec, o)
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := json.Marshal(spec); string(after) != string(before) {
		t.Fatal("Spec changed its input")
	}
	for _, e := range s.Experiments {
		if be := s.Backend(e.Backend); be == nil || be.Kind != schema.BackendEmbedded {
			t.Errorf("experiment %s: backend %q, want an embedded one", e.Name, e.Backend)
		}
		for _, c := range e.Cells {
			tp := c.Train
			if tp.MaxSteps != o.Steps || tp.BatchSize != 1 || tp.GradAccum != 1 || tp.MaxLength > o.MaxLength || tp.MaxLength <= 0 {
				t.Errorf("cell %s: train %+v not bounded by %+v", c.ID, tp, o)
			}
		}
		ls, err := reports.ParseLayouts(e.Report)
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]bool{}
		for _, l := range ls {
			names[l.Name] = true
			if !strings.HasPrefix(l.Title, smoke.TitlePrefix) {
				t.Errorf("layout %s: title %q does not say smoke run", l.Name, l.Title)
			}
		}
		for _, want := range []string{"main", "volume", "languages"} {
			if !names[want] {
				t.Errorf("layout %s lost", want)
			}
		}
	}
	for _, b := range s.Benchmarks {
		if b.Eval.Limit != o.Questions || b.Eval.MaxNewTokens <= 0 || b.Eval.MaxNewTokens > o.MaxNewTokens {
			t.Errorf("benchmark %s: eval %+v not bounded", b.Name, b.Eval)
		}
	}
	bad := o
	bad.Heads = 3
	if _, err := smoke.Spec(spec, bad); err == nil {
		t.Error("hidden not divisible by heads: no error")
	}
}

func TestMixture(t *testing.T) {
	o := smoke.Default() // Items 8
	tests := []struct{ in, want int }{{mixture.All, 40}, {15000, 22}, {6000, 21}, {3000, 20}, {9, 12}, {8, 8}, {2, 2}, {0, 0}}
	seen := map[int]bool{}
	for _, tt := range tests {
		sp := smoke.Mixture(mixture.Spec{Variants: []mixture.Variant{{Count: tt.in}}}, o)
		got := sp.Variants[0].Count
		if got != tt.want {
			t.Errorf("count %d: capped to %d, want %d", tt.in, got, tt.want)
		}
		if seen[got] {
			t.Errorf("count %d: %d is the cap of another volume too", tt.in, got)
		}
		seen[got] = true
	}
}

// A smoke plan shares no action key with the real plan of the same spec,
// and the smoke options are in every key.
func TestKeysApart(t *testing.T) {
	spec := loadReduced(t)
	resolve := plan.WithRevisionResolver(func(_ context.Context, kind, repo, rev string) (string, error) {
		return strings.Repeat("a", 40), nil
	})
	real, err := plan.Build(spec, resolve)
	if err != nil {
		t.Fatal(err)
	}
	o := smoke.Default()
	ss, _ := smoke.Spec(spec, o)
	sm, err := plan.Build(ss, resolve, plan.WithSmoke(o.Key()))
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, s := range real.Stages {
		keys[s.ActionID] = s.ID
	}
	for _, s := range sm.Stages {
		if id, ok := keys[s.ActionID]; ok {
			t.Errorf("smoke stage %s has the key of real stage %s", s.ID, id)
		}
		found := false
		for _, c := range s.Key.Components {
			found = found || c.Name == "smoke"
		}
		if !found {
			t.Errorf("stage %s: no smoke component in its key", s.ID)
		}
	}
	back, err := smoke.FromKey(sm.Smoke)
	if err != nil || back != o {
		t.Errorf("FromKey(plan.Smoke) = %+v, %v; want %+v", back, err, o)
	}
}

// Model keeps each family's architecture (activation, norm, sliding window,
// query/key-value head ratio, tied embeddings) and takes the tokenizer's
// vocabulary; the same inputs give the same bytes, and the model runs.
func TestModel(t *testing.T) {
	spec := loadReduced(t)
	repos, err := standin.Repos(spec, checkout)
	if err != nil {
		t.Fatal(err)
	}
	o := smoke.Default()
	tests := []struct {
		repo            string
		arch, act       string
		kvHeads, window int
		tie             bool
	}{
		{"google/gemma-2b", "gemma", "gelu", 1, 0, true},
		{"meta-llama/Llama-2-7b-hf", "llama", "silu", o.Heads, 0, false},
		{"mistralai/Mistral-7B-v0.1", "mistral", "silu", 1, 4096, false},
	}
	for _, tt := range tests {
		t.Run(tt.arch, func(t *testing.T) {
			src := t.TempDir()
			for _, r := range repos {
				if r.ID == tt.repo {
					for p, b := range r.Files {
						os.WriteFile(filepath.Join(src, p), b, 0o644)
					}
				}
			}
			var outs [2][]byte
			for i := range outs {
				dir := t.TempDir()
				desc, err := smoke.Model(dir, filepath.Join(src, "config.json"), filepath.Join(src, "tokenizer.json"), filepath.Join(src, "tokenizer_config.json"), o)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(desc, tt.arch) {
					t.Errorf("description %q does not name %s", desc, tt.arch)
				}
				cfg, err := model.LoadConfig(filepath.Join(dir, "config.json"))
				if err != nil {
					t.Fatal(err)
				}
				if cfg.Arch != tt.arch || !strings.HasPrefix(cfg.HiddenAct, tt.act) || cfg.NumKVHeads != tt.kvHeads ||
					cfg.SlidingWindow != tt.window || cfg.TieWordEmbeddings != tt.tie || cfg.HiddenSize != o.Hidden || cfg.NumLayers != o.Layers {
					t.Errorf("config %+v", cfg)
				}
				m, err := model.Load(dir)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := m.Forward([]int{1, 5, 9}); err != nil {
					t.Fatal(err)
				}
				outs[i], _ = os.ReadFile(filepath.Join(dir, "model.safetensors"))
			}
			if string(outs[0]) != string(outs[1]) {
				t.Error("weights differ between two runs")
			}
		})
	}
}
