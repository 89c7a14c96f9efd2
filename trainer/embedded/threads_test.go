package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/crossin-lab/crossin/engine/tensor"
	"github.com/crossin-lab/crossin/jobdata"
	"github.com/crossin-lab/crossin/trainer"
)

// TestThreadsBoundEngine checks that a job's threads bounds every
// goroutine fan-out of the engine (trainer loops, matrix products,
// inference) even when GOMAXPROCS allows more, as it must for stages that
// share one process; that the bound is reached (the work is parallel);
// that threads 0 uses GOMAXPROCS (the check can fail); and that results do
// not change.
func TestThreadsBoundEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8))
	dir := tinyModel(t)
	work := t.TempDir()
	data := filepath.Join(work, "mix.jsonl")
	var lines []byte
	for i := 0; i < 8; i++ {
		rec, _ := json.Marshal(map[string]any{"id": fmt.Sprint(i), "mode": "base", "src_lang": "en", "tgt_lang": "en",
			"instruction": fmt.Sprintf("Say %d.", i), "input": "", "output": fmt.Sprintf("%d %d %d", i, i, i), "source_ids": []string{fmt.Sprint(i)}})
		lines = append(append(lines, rec...), '\n')
	}
	if err := os.WriteFile(data, lines, 0o666); err != nil {
		t.Fatal(err)
	}
	tp := func() *trainer.TrainParams {
		return &trainer.TrainParams{LoRA: trainer.LoRA{R: 2, Alpha: 4, TargetModules: []string{"q_proj", "v_proj"}},
			LearningRate: 1e-2, MaxSteps: 2, BatchSize: 4, GradAccum: 1, MaxLength: 64, Scheduler: "cosine", MaxGradNorm: 1}
	}
	tokens, _, err := jobdata.PrepareTrain(dir, "alpaca", []string{data}, tp(), 5, filepath.Join(work, "inputs"))
	if err != nil {
		t.Fatal(err)
	}
	ev := &trainer.EvalParams{Benchmark: "cross_mmlu", Languages: []string{"English"}, Mode: "loglik", Limit: 2}
	prep, err := jobdata.PrepareEval(dir, "../../experiments/data/bench/cross_mmlu.sample.jsonl", ev, "alpaca", filepath.Join(work, "inputs-eval"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var manifests []string
	// lend > 0: the job's progress lends threads (trainer.ThreadLender), as
	// the runner does when other stages leave CPUs idle; the run takes them.
	for _, tt := range []struct{ threads, lend, want int }{{2, 0, 2}, {3, 0, 3}, {0, 0, 8}, {1, 3, 3}} {
		var progress trainer.Progress
		if tt.lend > 0 {
			progress = lender(tt.lend)
		}
		out := filepath.Join(work, fmt.Sprint("train-", tt.threads))
		tensor.PeakWorkers()
		m, err := New().Run(ctx, &trainer.JobSpec{Contract: trainer.Contract, Kind: trainer.KindTrain,
			Model: trainer.ModelRef{Dir: dir}, Data: []string{tokens}, Train: tp(),
			Seed: 5, OutputDir: out, Threads: tt.threads}, progress)
		if err != nil {
			t.Fatal(err)
		}
		if got := tensor.PeakWorkers(); got != tt.want {
			t.Errorf("train, threads %d (lent %d): engine used %d goroutines at once, want %d", tt.threads, tt.lend, got, tt.want)
		}
		b, _ := trainer.MarshalManifest(m)
		manifests = append(manifests, string(b))

		tensor.PeakWorkers()
		_, err = New().Run(ctx, &trainer.JobSpec{Contract: trainer.Contract, Kind: trainer.KindEval,
			Model: trainer.ModelRef{Dir: dir}, Adapter: filepath.Join(out, trainer.AdapterDir),
			Data: []string{prep.Path}, Eval: ev, Seed: 1, OutputDir: filepath.Join(work, fmt.Sprint("eval-", tt.threads)), Threads: tt.threads}, progress)
		if err != nil {
			t.Fatal(err)
		}
		if got := tensor.PeakWorkers(); got != tt.want {
			t.Errorf("eval, threads %d (lent %d): engine used %d goroutines at once, want %d", tt.threads, tt.lend, got, tt.want)
		}
	}
	for i := 1; i < len(manifests); i++ {
		if manifests[i] != manifests[0] {
			t.Errorf("train outputs depend on threads:\n%s\n%s", manifests[0], manifests[i])
		}
	}
}

// lender is a job's progress that lends the run n threads.
type lender int

func (lender) Update(int, int, string) {}
func (l lender) ThreadsNow() int       { return int(l) }
