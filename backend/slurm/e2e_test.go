package slurm_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/crossin-lab/crossin/backend/container"
	"github.com/crossin-lab/crossin/backend/container/containertest"
	"github.com/crossin-lab/crossin/backend/slurm"
	"github.com/crossin-lab/crossin/oci"
	"github.com/crossin-lab/crossin/runner"
	"github.com/crossin-lab/crossin/runner/cache"
	"github.com/crossin-lab/crossin/schema"
	"github.com/crossin-lab/crossin/trainer"
	"github.com/crossin-lab/crossin/trainer/embedded"
)

const e2eSpec = `package crossin

models: tiny: {
	family: "llama", dtype: "float32", template: "alpaca"
	init: {tokenizer: "REPO/experiments/assets/tokenizer/tokenizer.json", hidden_size: 64, intermediate_size: 128,
		num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 256, seed: 1}
}
data: base: {format: "jsonl", languages: ["en"], path: "REPO/experiments/data/alpaca/base_en.jsonl"}
mixtures: small: base: {source: "base", volume: 16}
benchmarks: mmlu: {task: "cross_mmlu", path: "REPO/experiments/data/bench/cross_mmlu.sample.jsonl",
	languages: ["English", "Chinese", "Vietnamese"], mode: "loglik", limit: 3, consistency_k: 3}
backends: pod: {kind: "container", image: "IMAGE"}
backends: slm: {kind: "slurm", image: "IMAGE", partition: "debug"}
_t: {lora: {r: 4, alpha: 8}, learning_rate: 1e-3, max_steps: 2, batch_size: 4, grad_accum: 1, max_length: 128}
experiments: {
	emb: {models: ["tiny"], mixtures: ["small"], benchmarks: ["mmlu"], backend: "embedded", training: _t}
	pod: {models: ["tiny"], mixtures: ["small"], benchmarks: ["mmlu"], backend: "pod", training: _t}
	slm: {models: ["tiny"], mixtures: ["small"], benchmarks: ["mmlu"], backend: "slm", training: _t}
}
`

// TestBackendsByteIdentical is the end goal of the backends: one small
// CrossIn grid run by the runner on the embedded engine, in a podman
// container of the crossin image (built from this source tree, pushed to
// the test registry, pulled by digest) and as Slurm jobs running that
// container gives byte-identical train and eval outputs (same OutputIDs in
// the cache) and the same scores.
func TestBackendsByteIdentical(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	if os.Getenv("CROSSIN_TEST_SLURM") == "" {
		t.Skip("integration test: CROSSIN_TEST_SLURM not set (run .ci/services.sh and source .ci/services.env)")
	}
	reg := containertest.Registry(t)
	eng := containertest.Engine(t)
	repo := containertest.RepoRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	// the crossin image, from this source tree, for the host platform
	srcBefore := goSourceHash(t, repo)
	dir := t.TempDir()
	bins, err := oci.CrossCompile(ctx, repo, dir, []v1.Platform{{OS: "linux", Architecture: runtime.GOARCH}}, "")
	if err != nil {
		t.Fatal(err)
	}
	idx, err := oci.BuildIndex(bins)
	if err != nil {
		t.Fatal(err)
	}
	if goSourceHash(t, repo) != srcBefore {
		t.Skip("the Go sources changed while the test ran (someone is editing the tree): the image and this test binary may differ; rerun")
	}
	image, err := oci.NewClient().PushIndex(ctx, reg+"/crossin-test/crossin:e2e", idx)
	if err != nil {
		t.Fatal(err)
	}

	specDir := filepath.Join(dir, "spec")
	os.MkdirAll(specDir, 0o755)
	src := strings.NewReplacer("REPO", repo, "IMAGE", image).Replace(e2eSpec)
	if err := os.WriteFile(filepath.Join(specDir, "e2e.cue"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	spec, err := schema.Load(specDir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.Open(filepath.Join(dir, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	ct, err := container.New(eng, image)
	if err != nil {
		t.Fatal(err)
	}
	if err := ct.Preflight(ctx); err != nil {
		t.Fatal(err)
	}
	sb, err := slurm.New(slurm.Config{WorkDir: filepath.Join(c.Dir(), "slurm"), CacheDir: c.Dir(), Container: ct, Poll: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	res, err := runner.Run(ctx, spec, runner.RunOptions{
		Cache:  c,
		OutDir: filepath.Join(dir, "results"),
		Jobs:   2,
		Backends: runner.Backends{
			schema.BackendEmbedded:  embedded.New(),
			schema.BackendContainer: ct,
			schema.BackendSlurm:     sb,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := c.List()
	outputs := map[string]map[string]bool{} // kind -> output ids
	count := map[string]int{}
	for _, e := range entries {
		if e.Kind == trainer.KindTrain || e.Kind == trainer.KindEval {
			if outputs[e.Kind] == nil {
				outputs[e.Kind] = map[string]bool{}
			}
			outputs[e.Kind][e.OutputID] = true
			count[e.Kind]++
			t.Logf("%-5s %-40s action %s output %s", e.Kind, e.Stage, e.ActionID[:12], e.OutputID[:12])
		}
	}
	for _, k := range []string{trainer.KindTrain, trainer.KindEval} {
		if count[k] != 3 {
			t.Errorf("%d %s stages ran, want 3 (one per backend)", count[k], k)
		}
		if len(outputs[k]) != 1 {
			t.Errorf("%s outputs differ across backends: %d distinct output trees", k, len(outputs[k]))
		}
	}
	tables := map[string]string{}
	for _, r := range res.Reports {
		tables[r.Experiment] = string(r.Table)
	}
	// The provenance footer names each run's own results digest (its
	// rows record their backend and image); everything else must match.
	norm := func(s, name string) string {
		var keep []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.HasPrefix(l, "provenance:") {
				keep = append(keep, l)
			}
		}
		return strings.ReplaceAll(strings.Join(keep, "\n"), name, "X")
	}
	if norm(tables["emb"], "emb") != norm(tables["pod"], "pod") || norm(tables["emb"], "emb") != norm(tables["slm"], "slm") {
		t.Errorf("tables differ:\n%s\n%s\n%s", tables["emb"], tables["pod"], tables["slm"])
	}
}

// goSourceHash hashes every .go file of the module (path, size, mtime), to
// notice edits made while the test compiles the image.
func goSourceHash(t *testing.T, root string) string {
	h := sha256.New()
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") {
			if fi, err := d.Info(); err == nil {
				fmt.Fprintf(h, "%s %d %d\n", p, fi.Size(), fi.ModTime().UnixNano())
			}
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))
}
