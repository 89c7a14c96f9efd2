// Package smoke turns a spec into its smoke run (`crossin run --smoke`):
// the same grid, every stage of it run for real, but each model replaced
// by a tiny random model of the same family and architecture with the
// model's real tokenizer, each data part and benchmark capped to a few
// items, training and generation cut to a few steps and tokens, and every
// job on the embedded engine. A reviewer checks that a whole paper grid
// runs from the spec to its tables in minutes on a laptop before spending
// GPU hours on it (the idea of Nextflow's -stub-run).
//
// Smoke results never mix with real ones: the runner passes Key to the
// plan, which puts it in every stage's action key, and every table title
// says it is a smoke run.
package smoke

import (
	"encoding/json"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"

	"github.com/crossin-lab/crossin/atomicfile"
	"github.com/crossin-lab/crossin/engine/model"
	"github.com/crossin-lab/crossin/mixture"
	"github.com/crossin-lab/crossin/reports"
	"github.com/crossin-lab/crossin/schema"
)

// Options bound a smoke run. Every field enters the action keys.
type Options struct {
	Items        int `json:"items"`          // records per mixture part
	Questions    int `json:"questions"`      // questions per benchmark (each language)
	Steps        int `json:"steps"`          // optimiser steps per training
	MaxLength    int `json:"max_length"`     // tokens per training example
	MaxNewTokens int `json:"max_new_tokens"` // generated tokens per answer
	// The tiny model's shape; the number of key/value heads keeps the real
	// model's ratio of query to key/value heads (MHA, GQA or MQA).
	Layers       int    `json:"layers"`
	Hidden       int    `json:"hidden"`
	Heads        int    `json:"heads"`
	Intermediate int    `json:"intermediate"`
	Seed         uint64 `json:"seed"` // of the random weights
}

// Default returns the options `crossin run --smoke` uses: small enough
// that the paper's 51 cells run in minutes on two cores.
func Default() Options {
	return Options{Items: 8, Questions: 2, Steps: 2, MaxLength: 96, MaxNewTokens: 4,
		Layers: 2, Hidden: 32, Heads: 4, Intermediate: 64, Seed: 42}
}

// Backend is the name of the embedded backend every smoke experiment uses.
const Backend = "smoke"

// TitlePrefix starts the title of every table of a smoke run.
const TitlePrefix = "SMOKE RUN (tiny random models, capped data: not results): "

// Key is the description that enters every stage's action key.
func (o Options) Key() json.RawMessage {
	b, _ := json.Marshal(struct {
		Version string  `json:"version"`
		Options Options `json:"options"`
	}{"crossin/smoke/v1", o})
	return b
}

// Validate checks that every bound is positive and the shape is usable.
func (o Options) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"items", o.Items}, {"questions", o.Questions}, {"steps", o.Steps}, {"max_length", o.MaxLength},
		{"max_new_tokens", o.MaxNewTokens}, {"layers", o.Layers}, {"hidden", o.Hidden}, {"heads", o.Heads}, {"intermediate", o.Intermediate}} {
		if f.v <= 0 {
			return fmt.Errorf("smoke: %s must be positive (got %d)", f.name, f.v)
		}
	}
	if o.Hidden%o.Heads != 0 || (o.Hidden/o.Heads)%2 != 0 {
		return fmt.Errorf("smoke: hidden %d must be a multiple of heads %d with an even head dimension", o.Hidden, o.Heads)
	}
	return nil
}

// Spec returns the smoke version of s (s is not changed): every experiment
// on one embedded backend and without a remote cache, every cell's
// training cut to o.Steps steps of one example of at most o.MaxLength
// tokens, every benchmark to its first o.Questions questions and
// o.MaxNewTokens generated tokens, and every report layout titled as a
// smoke run. Models and data keep their sources: the runner shrinks them
// (Model, Mixture).
func Spec(s *schema.Spec, o Options) (*schema.Spec, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	out := *s
	out.Backends = append([]*schema.Backend{{Name: Backend, Kind: schema.BackendEmbedded}}, s.Backends...)
	out.Benchmarks = nil
	for _, b := range s.Benchmarks {
		nb := *b
		nb.Eval.Limit = capped(nb.Eval.Limit, o.Questions)
		nb.Eval.MaxNewTokens = capped(nb.Eval.MaxNewTokens, o.MaxNewTokens)
		out.Benchmarks = append(out.Benchmarks, &nb)
	}
	out.Experiments = nil
	for _, e := range s.Experiments {
		ne := *e
		ne.Backend = Backend
		ne.Remote = ""
		report, err := smokeLayouts(e.Report)
		if err != nil {
			return nil, fmt.Errorf("%s: experiment %s: %w", e.Pos, e.Name, err)
		}
		ne.Report = report
		ne.Cells = nil
		for _, c := range e.Cells {
			nc := *c
			t := &nc.Train
			t.MaxSteps = o.Steps
			t.BatchSize, t.GradAccum = 1, 1
			t.MaxLength = capped(t.MaxLength, o.MaxLength)
			t.CheckpointEvery = 0
			ne.Cells = append(ne.Cells, &nc)
		}
		out.Experiments = append(out.Experiments, &ne)
	}
	return &out, nil
}

// capped is min(v, limit), with 0 (unset) meaning limit.
func capped(v, limit int) int {
	if v <= 0 || v > limit {
		return limit
	}
	return v
}

// smokeLayouts rewrites an experiment's report layouts (declared and
// built-in alike) with titles that say they are a smoke run.
func smokeLayouts(raw json.RawMessage) (json.RawMessage, error) {
	ls, err := reports.ParseLayouts(raw)
	if err != nil {
		return nil, err
	}
	named := map[string]reports.Layout{}
	for _, l := range ls {
		l.Title = TitlePrefix + l.Title
		named[l.Name] = l
	}
	return json.Marshal(map[string]any{"layouts": named})
}

// Mixture caps every part of a data builder spec to a few records, so a
// smoke data stage reads its real sources but writes a few records. The
// cap keeps distinct volumes distinct (so each cell of a volume study
// trains on its own data): a volume v up to o.Items stays v, a larger one
// becomes o.Items plus v's bit length (3000 -> 20, 6000 -> 21, 15000 -> 22
// with the default 8), and "all" becomes o.Items+32, more than any count.
func Mixture(sp mixture.Spec, o Options) mixture.Spec {
	vs := make([]mixture.Variant, len(sp.Variants))
	for i, v := range sp.Variants {
		v.Count = Count(v.Count, o)
		vs[i] = v
	}
	sp.Variants = vs
	return sp
}

// Count is the smoke count of a part of n records (mixture.All for "all");
// see Mixture.
func Count(n int, o Options) int {
	switch {
	case n == mixture.All:
		return o.Items + 32
	case n <= o.Items:
		return n
	}
	return o.Items + bits.Len(uint(n))
}

// sizeKeys are the config.json fields a smoke model sets itself; every
// other field of the real config (activation, norms, rope, sliding
// window, ...) is kept, so the tiny model has the real architecture.
var sizeKeys = map[string]bool{
	"vocab_size": true, "hidden_size": true, "intermediate_size": true, "num_hidden_layers": true,
	"num_attention_heads": true, "num_key_value_heads": true, "head_dim": true, "torch_dtype": true,
	"bos_token_id": true, "eos_token_id": true, "pad_token_id": true, "initializer_range": true,
	"transformers_version": true,
}

// Model writes into dir a tiny random model of the architecture of the
// real config.json at configPath, with the tokenizer.json at tokenizer
// (and the tokenizer_config.json at tokenizerConfig, if not "") copied in
// as the model's tokenizer. Its vocabulary is the tokenizer's; its sizes
// are o's; its weights are drawn from o.Seed. It returns a one-line
// description for logs.
func Model(dir, configPath, tokenizer, tokenizerConfig string, o Options) (string, error) {
	realBytes, err := os.ReadFile(configPath)
	if err != nil {
		return "", err
	}
	real, err := model.ParseConfig(realBytes, configPath)
	if err != nil {
		return "", fmt.Errorf("smoke model: %w", err)
	}
	if real.AttentionBias || real.MLPBias {
		return "", fmt.Errorf("smoke model: %s: attention_bias/mlp_bias models are not supported by smoke runs yet", configPath)
	}
	// The tokenizer files under their own names, which model.Init needs.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tokPath := filepath.Join(dir, "tokenizer.json")
	if err := copyFile(tokenizer, tokPath); err != nil {
		return "", err
	}
	if tokenizerConfig != "" {
		if err := copyFile(tokenizerConfig, filepath.Join(dir, "tokenizer_config.json")); err != nil {
			return "", err
		}
	}
	ratio := real.NumHeads / real.NumKVHeads
	kv := max(1, o.Heads/ratio)
	for o.Heads%kv != 0 {
		kv--
	}
	ic := model.InitConfig{
		Arch: real.Arch, Layers: o.Layers, Hidden: o.Hidden, Heads: o.Heads, KVHeads: kv, Intermediate: o.Intermediate,
		Tokenizer: tokPath, Seed: o.Seed, MaxPositions: real.MaxPositionEmbeddings, RopeTheta: real.RopeTheta,
		Tie: real.TieWordEmbeddings,
	}
	if err := model.Init(dir, ic); err != nil {
		return "", fmt.Errorf("smoke model: %w", err)
	}
	// Keep the real architecture fields over Init's defaults.
	var realMap, cfg map[string]any
	if err := json.Unmarshal(realBytes, &realMap); err != nil {
		return "", err
	}
	cfgPath := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return "", err
	}
	for k, v := range realMap {
		if !sizeKeys[k] {
			cfg[k] = v
		}
	}
	out, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return "", err
	}
	out = append(out, '\n')
	got, err := model.ParseConfig(out, cfgPath)
	if err != nil {
		return "", fmt.Errorf("smoke model: the shrunk config is invalid: %w", err)
	}
	if got.TieWordEmbeddings != (ic.Tie || real.Arch == "gemma") || got.AttentionBias || got.MLPBias {
		return "", fmt.Errorf("smoke model: the real config changes the weights' layout (tied embeddings or biases); not supported by smoke runs")
	}
	if err := atomicfile.Write(cfgPath, out, 0o644); err != nil {
		return "", err
	}
	return fmt.Sprintf("tiny random %s (%s): %d layers, hidden %d, %d heads / %d key-value heads, intermediate %d, vocabulary %d, seed %d",
		got.Arch, got.HiddenAct, got.NumLayers, got.HiddenSize, got.NumHeads, got.NumKVHeads, got.IntermediateSize, got.VocabSize, o.Seed), nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return atomicfile.Write(dst, b, 0o644)
}

// FromKey reads the options back from a plan's smoke description (Key).
func FromKey(raw json.RawMessage) (Options, error) {
	var k struct {
		Version string  `json:"version"`
		Options Options `json:"options"`
	}
	if err := json.Unmarshal(raw, &k); err != nil {
		return Options{}, fmt.Errorf("smoke: bad description %s: %w", raw, err)
	}
	if k.Version != "crossin/smoke/v1" {
		return Options{}, fmt.Errorf("smoke: description version %q, want crossin/smoke/v1", k.Version)
	}
	return k.Options, k.Options.Validate()
}
