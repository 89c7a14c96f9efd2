package schema

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// write creates files (name -> content) in a fresh directory.
func write(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const baseSpec = `
models: tiny: init: tokenizer: "tok.json"
data: {
	en: {languages: ["en"], path: "d/en.jsonl"}
	par: files: {for l in ["en", "zh"] {(l): "d/\(l).jsonl"}}
}
mixtures: {
	base: base: {source: "en", volume: 10}
	x2x: {base: {source: "en"}, variants: x2x: {source: "par", volume: 5, seed: 7}}
}
benchmarks: mmlu: {task: "cross_mmlu", path: "b.jsonl", languages: ["English", "Chinese"], consistency_k: 2}
experiments: e: {
	models: ["tiny"]
	mixtures: ["base", "x2x"]
	seeds: [1, 2]
	benchmarks: ["mmlu"]
	training: {lora: r: 8, epochs: 2}
	cells: "tiny/x2x/s2": training: {lora: {r: 16, target_modules: ["q_proj"]}, learning_rate: 5e-4}
}
`

func baseFiles(extra map[string]string) map[string]string {
	m := map[string]string{
		"spec.cue":   baseSpec,
		"tok.json":   "{}",
		"d/en.jsonl": `{"id":"1"}` + "\n",
		"d/zh.jsonl": `{"id":"1"}` + "\n",
		"b.jsonl":    `{"id":"test_1","English":{},"Chinese":{}}` + "\n",
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func TestLoadDecodesAndLayers(t *testing.T) {
	dir := write(t, baseFiles(nil))
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Model("tiny").Init.Tokenizer; got != filepath.Join(dir, "tok.json") {
		t.Errorf("tokenizer path %q not resolved against the spec file", got)
	}
	if got := s.DataSource("par").Languages; !reflect.DeepEqual(got, []string{"en", "zh"}) {
		t.Errorf("languages from files: %v", got)
	}
	x := s.Mixture("x2x")
	if !x.Base.Volume.All || x.Variants[0].Volume.N != 5 || x.Variants[0].Seed != 7 || x.Base.Seed != 42 {
		t.Errorf("mixture parts: %+v %+v", x.Base, x.Variants)
	}
	if !reflect.DeepEqual(x.Variants[0].Languages, []string{"en", "zh"}) {
		t.Errorf("variant languages default: %v", x.Variants[0].Languages)
	}
	e := s.Experiment("e")
	var ids []string
	for _, c := range e.Cells {
		ids = append(ids, c.ID)
	}
	if want := []string{"tiny/base/s1", "tiny/base/s2", "tiny/x2x/s1", "tiny/x2x/s2"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("cells %v, want %v", ids, want)
	}
	plain, over := e.Cells[0].Train, e.Cells[3].Train
	// Defaults < experiment < cell, field by field.
	if plain.LoRA.R != 8 || plain.Epochs != 2 || plain.LearningRate != 1e-4 || plain.LoRA.Alpha != 128 || len(plain.LoRA.TargetModules) != 7 {
		t.Errorf("experiment layer: %+v", plain)
	}
	if over.LoRA.R != 16 || over.Epochs != 2 || over.LearningRate != 5e-4 || !reflect.DeepEqual(over.LoRA.TargetModules, []string{"q_proj"}) {
		t.Errorf("cell layer: %+v", over)
	}
	if len(e.Cells[1].Train.LoRA.TargetModules) != 7 {
		t.Error("a cell's list override leaked into another cell")
	}
	b := s.Benchmark("mmlu")
	if b.Eval.Benchmark != "cross_mmlu" || b.Eval.Mode != "generate" || b.Eval.PromptTemplate != 1 || b.ConsistencyK != 2 {
		t.Errorf("benchmark: %+v", b)
	}
	if s.Backend("embedded") == nil || e.Backend != "embedded" {
		t.Error("the embedded backend is predefined and the default")
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra string
		want  []string // each a full line of the error
	}{
		{"rank", `experiments: e: training: lora: r: 2000`,
			[]string{"extra.cue:1:36: experiments.e.training.lora.r: invalid value 2000 (out of bound <=1024)"}},
		{"variant", `mixtures: m: variants: en2y: {source: "par"}`,
			[]string{"extra.cue:1:24: mixtures.m.variants.en2y: field not allowed"}},
		{"volume", `mixtures: m: base: {source: "en", volume: -1}`,
			[]string{"extra.cue:1:43: mixtures.m.base.volume: invalid value -1 (out of bound >=0)"}},
		{"benchmark language", `benchmarks: b2: {task: "cross_logiqa", path: "b.jsonl", languages: ["English", "Vietnamese"], consistency_k: 2}`,
			[]string{`extra.cue:1:80: benchmarks.b2.languages: language "Vietnamese" is not in the benchmark data b.jsonl (it has English, Chinese)`}},
		{"en2x without English", `mixtures: m: variants: en2x: {source: "par", languages: ["zh"]}`,
			[]string{"extra.cue:1:24: mixtures.m.variants.en2x: en2x needs English plus at least one other language, got zh"}},
		{"consistency k", `benchmarks: b2: {task: "cross_logiqa", path: "b.jsonl", languages: ["English"]}`,
			[]string{"extra.cue:1:13: benchmarks.b2.consistency_k: consistency_k 3 is more than the 1 languages evaluated"}},
		{"model source", `models: m2: {family: "llama"}`,
			[]string{"extra.cue:1:9: models.m2: set exactly one of hub, path, init (got none)"}},
		{"cell reference", `experiments: e: cells: extra: {model: "tiny", mixture: "nope", seed: 1}`,
			[]string{`extra.cue:1:56: experiments.e.cells.extra.mixture: unknown mixture "nope" (declared: base, x2x)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := write(t, baseFiles(map[string]string{"extra.cue": tc.extra}))
			_, err := Load(dir)
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("want *Error, got %v", err)
			}
			got := strings.Split(se.Format(dir), "\n")
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestLoadShippedExperiments(t *testing.T) {
	s, err := Load("../experiments/paper.cue")
	if err != nil {
		t.Fatal(err)
	}
	e := s.Experiment("paper")
	if len(e.Cells) != 51 || e.Backend != "gpu" || s.Backend("gpu").Kind != BackendContainer {
		t.Errorf("paper: %d cells, backend %s", len(e.Cells), e.Backend)
	}
	s, err = Load("../experiments")
	if err != nil {
		t.Fatal(err)
	}
	if q := s.Experiment("quickstart"); q == nil || len(q.Cells) != 3 {
		t.Errorf("quickstart cells: %+v", q)
	}
}

func TestVolumeJSON(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Volume
		err  bool
	}{
		{`"all"`, Volume{All: true}, false},
		{`300`, Volume{N: 300}, false},
		{`-1`, Volume{}, true},
		{`"some"`, Volume{}, true},
	} {
		var v Volume
		err := json.Unmarshal([]byte(tc.in), &v)
		if (err != nil) != tc.err || v != tc.want {
			t.Errorf("%s: %+v %v", tc.in, v, err)
		}
		if err == nil {
			b, _ := json.Marshal(v)
			if string(b) != tc.in {
				t.Errorf("round trip %s -> %s", tc.in, b)
			}
		}
	}
}
