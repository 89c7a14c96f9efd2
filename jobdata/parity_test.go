package jobdata

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/crossin-lab/crossin/engine/model"
	"github.com/crossin-lab/crossin/trainer"
)

// python returns Debian's python3 (the GPU trainer's input reader needs
// only the standard library). Without one the test skips, except in CI.
func python(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" || os.Getenv("CROSSIN_REQUIRE_SHARED") == "1" {
		t.Fatal("python3 is required for the trainer input parity test")
	}
	t.Skip("no python3: cannot run trainers/hf's input reader")
	return ""
}

// TestGPUTrainerSeesTheSameInputs: the job files the runner writes for a
// train job and both kinds of eval job are read by the GPU trainer
// (trainers/hf, the code a real run uses) into exactly the examples, steps
// and prompts the embedded engine reads: both compute a digest over what
// they parsed and the digests must agree.
func TestGPUTrainerSeesTheSameInputs(t *testing.T) {
	py := python(t)
	work := t.TempDir()
	dir := filepath.Join(work, "model")
	if err := model.Init(dir, model.InitConfig{Layers: 1, Hidden: 16, Heads: 2, Intermediate: 32, Tokenizer: tokPath, Seed: 3, MaxPositions: 512}); err != nil {
		t.Fatal(err)
	}
	tp := &trainer.TrainParams{LoRA: trainer.LoRA{R: 2, Alpha: 4, TargetModules: []string{"q_proj"}}, LearningRate: 1e-3,
		Epochs: 2, BatchSize: 2, GradAccum: 2, MaxLength: 48, Scheduler: "cosine", LossReduction: "sample"}
	tokens, _, err := PrepareTrain(dir, "alpaca", []string{"../experiments/data/alpaca/zh.jsonl"}, tp, 42, filepath.Join(work, "train"))
	if err != nil {
		t.Fatal(err)
	}
	jobs := []*trainer.JobSpec{{Contract: trainer.Contract, Kind: trainer.KindTrain, Model: trainer.ModelRef{Dir: dir},
		Data: []string{tokens}, Train: tp, Seed: 42, OutputDir: filepath.Join(work, "out-train")}}
	for _, mode := range []string{"loglik", "generate"} {
		ev := &trainer.EvalParams{Benchmark: "cross_logiqa", Languages: []string{"English", "Chinese", "Vietnamese"}, Mode: mode, Limit: 4, MaxNewTokens: 8}
		prep, err := PrepareEval(dir, "../experiments/data/bench/cross_logiqa.sample.jsonl", ev, "", filepath.Join(work, "eval-"+mode))
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, &trainer.JobSpec{Contract: trainer.Contract, Kind: trainer.KindEval, Model: trainer.ModelRef{Dir: dir},
			Data: []string{prep.Path}, Eval: ev, Seed: 1, OutputDir: filepath.Join(work, "out-"+mode)})
	}
	for i, job := range jobs {
		spec, _ := json.Marshal(job)
		sp := filepath.Join(work, "spec.json")
		if err := os.WriteFile(sp, spec, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(py, "-m", "crossin_trainer_hf", "--inputs-digest", sp)
		cmd.Env = append(os.Environ(), "PYTHONPATH="+filepath.Join("..", "trainers", "hf", "src"))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("job %d: %v\n%s", i, err, out)
		}
		var got map[string]any
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("job %d: %v: %s", i, err, out)
		}
		want, err := InputsDigest(job.Kind, job.Data)
		if err != nil {
			t.Fatal(err)
		}
		wj, _ := json.Marshal(want)
		gj, _ := json.Marshal(got)
		if string(wj) != string(gj) {
			t.Errorf("job %d (%s): the GPU trainer read\n%s\nthe embedded engine reads\n%s", i, job.Kind, gj, wj)
		}
	}
}
