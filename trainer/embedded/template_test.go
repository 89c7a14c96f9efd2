package embedded

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/crossin-lab/crossin/bench"
	"github.com/crossin-lab/crossin/engine/model"
	"github.com/crossin-lab/crossin/engine/tokenizer"
	"github.com/crossin-lab/crossin/engine/train"
	"github.com/crossin-lab/crossin/trainer"
)

// TestTemplateNames: the embedded trainer accepts every reference template
// (paper.cue gives Llama-2 and Mistral "llama") and names the choices when
// a template does not exist.
func TestTemplateNames(t *testing.T) {
	for _, name := range []string{"", "alpaca", "llama", "gemma", "plain"} {
		if _, err := template(name); err != nil {
			t.Errorf("template(%q): %v", name, err)
		}
	}
	_, err := template("chatml")
	want := `prompt template "chatml" does not exist; use one of alpaca, gemma, llama`
	if err == nil || err.Error() != want {
		t.Errorf("template(chatml) = %v, want %q", err, want)
	}
}

// TestEvalRaw: with eval.raw the model scores the benchmark prompt itself
// (the CrossIn reference); without it, the prompt rendered as the
// instruction of the model's template. The option log-likelihoods of the
// job must equal the scorer's on exactly that text.
func TestEvalRaw(t *testing.T) {
	dir := tinyModel(t)
	const benchFile = "../../experiments/data/bench/cross_mmlu.sample.jsonl"
	b, err := bench.Load(benchFile)
	if err != nil {
		t.Fatal(err)
	}
	it := b.Questions[0].Items["English"]
	text, err := bench.Prompt("cross_mmlu", it, bench.PromptOptions{Format: bench.FormatCrossIn})
	if err != nil {
		t.Fatal(err)
	}
	wrapped, _ := train.Template("llama").Render(text, "")
	m, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tok, err := tokenizer.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := &scorer{m: m, tok: tok}
	for _, tc := range []struct {
		raw    bool
		prompt string
	}{{true, text}, {false, wrapped}} {
		out := filepath.Join(t.TempDir(), "eval")
		_, err := New().Run(context.Background(), &trainer.JobSpec{Contract: trainer.ContractV1, Kind: trainer.KindEval,
			Model: trainer.ModelRef{Dir: dir, Template: "llama"}, Data: []string{benchFile},
			Eval: &trainer.EvalParams{Benchmark: "cross_mmlu", Languages: []string{"English"}, Prompt: "crossin", Raw: tc.raw, Mode: "loglik", Limit: 1},
			Seed: 1, OutputDir: out}, nil)
		if err != nil {
			t.Fatal(err)
		}
		preds, err := bench.ReadPredictions(filepath.Join(out, trainer.PredictionsFile))
		if err != nil {
			t.Fatal(err)
		}
		want, _, err := s.logLik(tc.prompt, it.Choices)
		if err != nil {
			t.Fatal(err)
		}
		if got := preds[0].LogLik["English"]; !reflect.DeepEqual(got, want) {
			t.Errorf("raw=%v: job's log-likelihoods %v, scorer on the expected prompt %v", tc.raw, got, want)
		}
	}
}
