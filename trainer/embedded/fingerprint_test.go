package embedded

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/engine/model"
	"github.com/crossin-lab/crossin/engine/tensor"
	"github.com/crossin-lab/crossin/jobdata"
	"github.com/crossin-lab/crossin/trainer"
)

var update = flag.Bool("update", false, "record new entries in testdata/fingerprint.json (never overwrites a recorded one)")

const fingerprintFile = "testdata/fingerprint.json"

// fingerprints is testdata/fingerprint.json: for the current CodeVersion,
// per arithmetic path (tensor.ArithmeticPath), the hashes of the outputs of
// a fixed train job and two eval jobs on a fixed tiny model.
type fingerprints struct {
	CodeVersion string                       `json:"code_version"`
	Paths       map[string]map[string]string `json:"paths"`
}

// TestEngineFingerprint is what makes CodeVersion impossible to forget: it
// trains and evaluates a fixed tiny model on every arithmetic path this
// machine has (tensor.Kernels) and compares the outputs' hashes with those recorded for the
// current CodeVersion. Outputs that change under the same CodeVersion fail
// the test, and -update refuses to re-record them: the only way forward is
// to bump CodeVersion (which enters the cache keys of every train and eval
// stage of this trainer), after which -update records the new version's
// hashes. A path not yet recorded (another architecture, a CPU without
// AVX2) is added by -update without a bump, since no key could have served
// it the wrong bytes.
func TestEngineFingerprint(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	got := map[string]map[string]string{}
	kernels := tensor.Kernels()
	prev := tensor.UseKernels(kernels[0])
	t.Cleanup(func() { tensor.UseKernels(prev) })
	for _, k := range kernels {
		tensor.UseKernels(k)
		got[tensor.ArithmeticPath()] = engineFingerprint(t)
	}
	// The paths round differently; identical hashes would mean a switch
	// never reached its kernels and the fingerprint guards fewer paths
	// than it names.
	for x := range kernels {
		for y := x + 1; y < len(kernels); y++ {
			px, py := pathWith(kernels[x]), pathWith(kernels[y])
			if fmt.Sprint(got[px]) == fmt.Sprint(got[py]) {
				t.Errorf("paths %s and %s give identical outputs: %v", px, py, got)
			}
		}
	}

	var rec fingerprints
	data, err := os.ReadFile(fingerprintFile)
	switch {
	case err == nil:
		if err := json.Unmarshal(data, &rec); err != nil {
			t.Fatalf("%s: %v", fingerprintFile, err)
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		t.Fatal(err)
	}
	if rec.CodeVersion != CodeVersion {
		if !*update {
			t.Fatalf("%s records CodeVersion %q, the trainer is %q: record the new version's outputs with\n\tgo test ./trainer/embedded -run TestEngineFingerprint -update", fingerprintFile, rec.CodeVersion, CodeVersion)
		}
		rec = fingerprints{CodeVersion: CodeVersion}
	}
	if rec.Paths == nil {
		rec.Paths = map[string]map[string]string{}
	}
	changed := false
	for _, path := range sortedKeys(got) {
		want, ok := rec.Paths[path]
		if !ok {
			if !*update {
				t.Errorf("no fingerprint recorded for arithmetic path %s under CodeVersion %q: run\n\tgo test ./trainer/embedded -run TestEngineFingerprint -update", path, CodeVersion)
				continue
			}
			rec.Paths[path] = got[path]
			changed = true
			continue
		}
		var diff []string
		for _, part := range sortedKeys(got[path]) {
			if got[path][part] != want[part] {
				diff = append(diff, part)
			}
		}
		if len(want) != len(got[path]) || len(diff) > 0 {
			t.Errorf("the embedded engine's outputs changed on %s (%v) without a CodeVersion bump: cached results of %q would be served for the new code. Bump CodeVersion in trainer/embedded/embedded.go, then run\n\tgo test ./trainer/embedded -run TestEngineFingerprint -update\n(if only model.Init's random weights changed, bumping is merely cautious)", path, diff, CodeVersion)
		}
	}
	if changed {
		out, err := json.MarshalIndent(rec, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(fingerprintFile, append(out, '\n'), 0o666); err != nil {
			t.Fatalf("-update: %v", err)
		}
		t.Logf("recorded %s", fingerprintFile)
	}
}

func pathWith(kernels string) string {
	prev := tensor.UseKernels(kernels)
	defer tensor.UseKernels(prev)
	return tensor.ArithmeticPath()
}

// engineFingerprint runs the fixed jobs on the current arithmetic path and
// returns each job's hash: the train job's outputs and two eval jobs'
// predictions.
func engineFingerprint(t *testing.T) map[string]string {
	t.Helper()
	work := t.TempDir()
	dir := filepath.Join(work, "model")
	if err := model.Init(dir, model.InitConfig{Layers: 2, Hidden: 32, Heads: 4, KVHeads: 2, Intermediate: 64, Tokenizer: repoTokenizer, Seed: 11, MaxPositions: 256}); err != nil {
		t.Fatal(err)
	}
	fp := map[string]string{}
	// Ragged lengths (right padding) and micro-batches of more than
	// 160 positions, so that the reductions over positions (the LoRA
	// weight gradients) reach the AVX2 path's long-K tiles.
	data := filepath.Join(work, "mix.jsonl")
	var lines []byte
	for i := 0; i < 12; i++ {
		rec, _ := json.Marshal(map[string]any{"id": fmt.Sprint(i), "mode": "x2x", "src_lang": "en", "tgt_lang": "zh",
			"instruction": fmt.Sprintf("Translate the number %d.", i), "input": "", "output": strings.Repeat(fmt.Sprintf("数字 %d ", i), 1+i%5), "source_ids": []string{fmt.Sprint(i)}})
		lines = append(append(lines, rec...), '\n')
	}
	if err := os.WriteFile(data, lines, 0o666); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tp := &trainer.TrainParams{LoRA: trainer.LoRA{R: 4, Alpha: 8, Dropout: 0.1, TargetModules: []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}},
		LearningRate: 1e-2, MaxSteps: 4, BatchSize: 3, GradAccum: 2, MaxLength: 96, Scheduler: "cosine", WarmupRatio: 0.25, WeightDecay: 0.01, MaxGradNorm: 1}
	tokens, _, err := jobdata.PrepareTrain(dir, "alpaca", []string{data}, tp, 5, filepath.Join(work, "inputs"))
	if err != nil {
		t.Fatal(err)
	}
	trainOut := filepath.Join(work, "train")
	m, err := New().Run(ctx, &trainer.JobSpec{Contract: trainer.Contract, Kind: trainer.KindTrain,
		Model: trainer.ModelRef{Dir: dir}, Data: []string{tokens}, Train: tp, Seed: 5, OutputDir: trainOut}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fp["train"] = hashManifest(m)
	for _, mode := range []string{"loglik", "generate"} {
		ev := &trainer.EvalParams{Benchmark: "cross_mmlu", Languages: []string{"English", "Chinese"}, Mode: mode, Limit: 2, MaxNewTokens: 6}
		prep, err := jobdata.PrepareEval(dir, "../../experiments/data/bench/cross_mmlu.sample.jsonl", ev, "alpaca", filepath.Join(work, "inputs-"+mode))
		if err != nil {
			t.Fatal(err)
		}
		m, err := New().Run(ctx, &trainer.JobSpec{Contract: trainer.Contract, Kind: trainer.KindEval,
			Model: trainer.ModelRef{Dir: dir}, Adapter: filepath.Join(trainOut, trainer.AdapterDir),
			Data: []string{prep.Path}, Eval: ev, Seed: 1, OutputDir: filepath.Join(work, "eval-"+mode)}, nil)
		if err != nil {
			t.Fatal(mode, err)
		}
		fp["eval-"+mode] = hashManifest(m)
	}
	return fp
}

func hashManifest(m *trainer.Manifest) string {
	var b bytes.Buffer
	for _, k := range sortedKeys(m.Files) {
		fmt.Fprintf(&b, "%s %s\n", m.Files[k], k)
	}
	h := sha256.Sum256(b.Bytes())
	return hex.EncodeToString(h[:])
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
