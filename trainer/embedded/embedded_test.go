package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/crossin-lab/crossin/engine/model"
	"github.com/crossin-lab/crossin/engine/tokenizer"
	"github.com/crossin-lab/crossin/jobdata"
	"github.com/crossin-lab/crossin/trainer"
	"github.com/crossin-lab/crossin/trainer/conformance"
)

const repoTokenizer = "../../experiments/assets/tokenizer/tokenizer.json"

func tinyModel(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "model")
	if err := model.Init(dir, model.InitConfig{Layers: 1, Hidden: 16, Heads: 2, Intermediate: 32, Tokenizer: repoTokenizer, Seed: 3, MaxPositions: 512}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// optionsLine is jobdata.OptionsLine for a test: a prompt line of the
// prompt and its options, tokenized with tok.
func optionsLine(t *testing.T, tok *tokenizer.Tokenizer, prompt string, options []string) jobdata.PromptLine {
	t.Helper()
	pl, err := jobdata.OptionsLine(tok, prompt, options)
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

// tinyScorer returns a scorer of the tiny test model (closed when the
// test ends) and the model's tokenizer.
func tinyScorer(t *testing.T) (*scorer, *tokenizer.Tokenizer) {
	t.Helper()
	dir := tinyModel(t)
	m, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	tok, err := tokenizer.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &scorer{m: m}, tok
}

// TestLogLikMatchesNLL checks the shared-prefix option scoring against an
// independent computation: the model's per-token NLL of the whole
// prompt+option sequence, summed over the option's tokens.
func TestLogLikMatchesNLL(t *testing.T) {
	s, tok := tinyScorer(t)
	tests := []struct {
		prompt  string
		options []string
	}{
		{"Question: which colour is the sky?\nAnswer:\n", []string{"(A) red", "(B) blue", "(C) a much longer answer option", "(D) 绿色"}},
		{"问题：天空是什么颜色？\n答案：", []string{"(A) 红", "(B) 蓝"}},
		{"x", []string{"y", "yy y"}},
	}
	for _, tt := range tests {
		pl := optionsLine(t, tok, tt.prompt, tt.options)
		ll, nt, err := s.logLik(pl)
		if err != nil {
			t.Fatal(err)
		}
		ctx := tok.Encode(tt.prompt, true)
		for i, o := range tt.options {
			whole := tok.Encode(tt.prompt+o, true)
			n := 0
			for n < len(whole) && n < len(ctx) && whole[n] == ctx[n] {
				n++
			}
			nll, err := s.m.NLL(whole)
			if err != nil {
				t.Fatal(err)
			}
			var want float64
			for j := n - 1; j < len(whole)-1; j++ {
				want -= nll[j]
			}
			if nt[i] != len(whole)-n {
				t.Errorf("%q+%q: ntokens %d, want %d", tt.prompt, o, nt[i], len(whole)-n)
			}
			if math.Abs(ll[i]-want) > 1e-4*math.Max(1, math.Abs(want)) {
				t.Errorf("%q+%q: loglik %.6f, NLL gives %.6f", tt.prompt, o, ll[i], want)
			}
		}
	}
}

// TestLogLikSharedRowsExact: scoring a question's options together
// (one batched step, rows of options that begin alike merged) gives every
// option the bits it gets when scored alone.
func TestLogLikSharedRowsExact(t *testing.T) {
	s, tok := tinyScorer(t)
	for _, tt := range []struct {
		prompt  string
		options []string
	}{
		{"Question: which colour is the sky?\nAnswer:", []string{" blue", " blue sky", " blue", " bluish", " red"}},
		{"Q: 2+2?\nA: (", []string{"A) four", "A) five", "B) four", "A) four and more"}},
		{"x", []string{"y", "yy y", "y"}},
	} {
		pl := optionsLine(t, tok, tt.prompt, tt.options)
		ll, nt, err := s.logLik(pl)
		if err != nil {
			t.Fatal(err)
		}
		for i := range pl.Options {
			one := pl
			one.Options, one.ScoreTokens = pl.Options[i:i+1], pl.ScoreTokens[i:i+1]
			want, wantN, err := s.logLik(one)
			if err != nil {
				t.Fatal(err)
			}
			if math.Float64bits(ll[i]) != math.Float64bits(want[0]) || nt[i] != wantN[0] {
				t.Errorf("%q+%q: together %v (%d tokens), alone %v (%d tokens)", tt.prompt, tt.options[i], ll[i], nt[i], want[0], wantN[0])
			}
		}
	}
}

// TestLogLikQueuedExact: prompts queued together and scored by one LM-head
// product get the bits each gets when scored alone.
func TestLogLikQueuedExact(t *testing.T) {
	s, tok := tinyScorer(t)
	var lines []jobdata.PromptLine
	for _, tt := range []struct {
		prompt  string
		options []string
	}{
		{"Question: which colour is the sky?\nAnswer:", []string{" blue", " red"}},
		{"Q: 2+2?\nA: (", []string{"A) four", "B) five", "C) six"}},
		{"x", []string{"y", "yy y"}},
		{"Question: which colour is the sky?\nAnswer:", []string{" blue", " green"}},
	} {
		pl := optionsLine(t, tok, tt.prompt, tt.options)
		lines = append(lines, pl)
	}
	outs := make([]jobdata.OutputLine, len(lines))
	for i, pl := range lines {
		if err := s.add(pl, &outs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if s.queuedRows() <= len(lines[0].Options) {
		t.Fatalf("%d rows queued: the case tests nothing", s.queuedRows())
	}
	s.flush()
	if s.queuedRows() != 0 || len(s.queue) != 0 {
		t.Fatalf("flush left %d rows, %d prompts", s.queuedRows(), len(s.queue))
	}
	for i, pl := range lines {
		want, wantN, err := s.logLik(pl)
		if err != nil {
			t.Fatal(err)
		}
		for o := range want {
			if math.Float64bits(outs[i].LogLik[o]) != math.Float64bits(want[o]) || outs[i].NTokens[o] != wantN[o] {
				t.Errorf("prompt %d option %d: queued %v (%d tokens), alone %v (%d tokens)", i, o, outs[i].LogLik[o], outs[i].NTokens[o], want[o], wantN[o])
			}
		}
	}
}

// TestTrainEvalJobs runs a train job and loglik and generate eval jobs
// in-process and checks their layouts with the conformance suite's checker,
// and that a second train job is byte-identical.
func TestTrainEvalJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	dir := tinyModel(t)
	work := t.TempDir()
	data := filepath.Join(work, "mix.jsonl")
	var lines []byte
	for i := 0; i < 8; i++ {
		rec, _ := json.Marshal(map[string]any{"id": fmt.Sprint(i), "mode": "base", "src_lang": "en", "tgt_lang": "en",
			"instruction": fmt.Sprintf("Say %d.", i), "input": "", "output": fmt.Sprintf("%d %d %d", i, i, i), "source_ids": []string{fmt.Sprint(i)}})
		lines = append(append(lines, rec...), '\n')
	}
	os.WriteFile(data, lines, 0o666)
	params := func() *trainer.TrainParams {
		return &trainer.TrainParams{LoRA: trainer.LoRA{R: 2, Alpha: 4, TargetModules: []string{"q_proj", "v_proj"}},
			LearningRate: 1e-2, Epochs: 1, BatchSize: 2, GradAccum: 1, MaxLength: 64, Scheduler: "cosine", MaxGradNorm: 1, CheckpointEvery: 1}
	}
	tokens, _, err := jobdata.PrepareTrain(dir, "alpaca", []string{data}, params(), 5, filepath.Join(work, "inputs"))
	if err != nil {
		t.Fatal(err)
	}
	trainJob := func(out string, threads int) *trainer.JobSpec {
		return &trainer.JobSpec{Contract: trainer.Contract, Kind: trainer.KindTrain,
			Model: trainer.ModelRef{Dir: dir}, Data: []string{tokens},
			Train: params(), Seed: 5, OutputDir: out, Threads: threads}
	}
	tr := New()
	ctx := context.Background()
	out1, out2 := filepath.Join(work, "t1"), filepath.Join(work, "t2")
	if _, err := tr.Run(ctx, trainJob(out1, 1), nil); err != nil {
		t.Fatal(err)
	}
	m1, err := conformance.CheckLayout(out1, trainer.KindTrain)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Run(ctx, trainJob(out2, 2), nil); err != nil {
		t.Fatal(err)
	}
	m2, _ := conformance.CheckLayout(out2, trainer.KindTrain)
	b1, _ := trainer.MarshalManifest(m1)
	b2, _ := trainer.MarshalManifest(m2)
	if string(b1) != string(b2) {
		t.Fatalf("train outputs differ between 1 and 2 threads:\n%s\n%s", b1, b2)
	}
	for _, mode := range []string{"loglik", "generate"} {
		out := filepath.Join(work, "eval-"+mode)
		ev := &trainer.EvalParams{Benchmark: "cross_mmlu", Languages: []string{"English", "Chinese"}, Mode: mode, Limit: 2, MaxNewTokens: 4}
		prep, err := jobdata.PrepareEval(dir, "../../experiments/data/bench/cross_mmlu.sample.jsonl", ev, "alpaca", filepath.Join(work, "inputs-"+mode))
		if err != nil {
			t.Fatal(err)
		}
		_, err = tr.Run(ctx, &trainer.JobSpec{Contract: trainer.Contract, Kind: trainer.KindEval,
			Model: trainer.ModelRef{Dir: dir}, Adapter: filepath.Join(out1, trainer.AdapterDir),
			Data: []string{prep.Path}, Eval: ev, Seed: 1, OutputDir: out}, nil)
		if err != nil {
			t.Fatal(mode, err)
		}
		if _, err := conformance.CheckLayout(out, trainer.KindEval); err != nil {
			t.Fatal(mode, err)
		}
		preds, err := prep.Finish(out)
		if err != nil {
			t.Fatal(mode, err)
		}
		if len(preds) != 2 || len(preds[0].Output) != 2 {
			t.Fatalf("%s: predictions %+v", mode, preds)
		}
	}
	// A bad job fails without a manifest.
	bad := trainJob(filepath.Join(work, "bad"), 1)
	bad.Data = []string{filepath.Join(work, "missing.jsonl")}
	if _, err := tr.Run(ctx, bad, nil); err == nil {
		t.Fatal("job with a missing data file succeeded")
	}
	if _, err := os.Stat(filepath.Join(work, "bad", trainer.ManifestFile)); err == nil {
		t.Fatal("failed job wrote a manifest")
	}
}

// BenchmarkEvalLogLik measures one loglik eval of Cross-LogiQA questions
// (long passages) on a small random model.
func BenchmarkEvalLogLik(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "model")
	if err := model.Init(dir, model.InitConfig{Layers: 2, Hidden: 128, Heads: 4, Intermediate: 344, Tokenizer: repoTokenizer, Seed: 3, MaxPositions: 2048}); err != nil {
		b.Fatal(err)
	}
	tr := New()
	ev := &trainer.EvalParams{Benchmark: "cross_logiqa", Languages: []string{"English", "Chinese", "Vietnamese"}, Mode: "loglik", Limit: 3}
	prep, err := jobdata.PrepareEval(dir, "../../experiments/data/bench/cross_logiqa.sample.jsonl", ev, "alpaca", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out := filepath.Join(b.TempDir(), "eval")
		_, err := tr.Run(context.Background(), &trainer.JobSpec{Contract: trainer.Contract, Kind: trainer.KindEval,
			Model: trainer.ModelRef{Dir: dir}, Data: []string{prep.Path}, Eval: ev, Seed: 1, OutputDir: out}, nil)
		if err != nil {
			b.Fatal(err)
		}
	}
}

// TestTrainConfigCarriesEveryField: the translation from the contract to the
// engine loses nothing (both encode to the same JSON, field for field).
func TestTrainConfigCarriesEveryField(t *testing.T) {
	p := trainer.TrainParams{
		LoRA:         trainer.LoRA{R: 64, Alpha: 128, Dropout: 0.05, TargetModules: []string{"k_proj"}, ModulesToSave: []string{"lm_head"}},
		LearningRate: 1e-4, Epochs: 3, MaxSteps: 9, BatchSize: 1, GradAccum: 16, MaxLength: 4096,
		Scheduler: "cosine", WarmupRatio: 0.03, WeightDecay: 0.01, MaxGradNorm: 1, CheckpointEvery: 7, LossReduction: "sample",
	}
	want, _ := json.Marshal(p)
	got, _ := json.Marshal(trainConfig(&p))
	if string(got) != string(want) {
		t.Errorf("engine config %s\ncontract params %s", got, want)
	}
}
