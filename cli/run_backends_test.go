package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/resultset"
)

// miniSpec lays out the runner's miniature experiment in a temporary
// directory (its data paths are relative to the spec) and returns the
// spec directory.
func miniSpec(t *testing.T, work string) string {
	t.Helper()
	repo, _ := filepath.Abs("..")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(repo, "experiments"), filepath.Join(work, "experiments")); err != nil && !os.IsExist(err) {
		t.Fatal(err)
	}
	specDir := filepath.Join(work, "a", "b", "spec")
	if err := os.MkdirAll(specDir, 0o755); err != nil {
		t.Fatal(err)
	}
	mini, err := os.ReadFile(filepath.Join(repo, "runner", "testdata", "mini", "mini.cue"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(specDir, "mini.cue"), mini, 0o644); err != nil {
		t.Fatal(err)
	}
	return specDir
}

// TestRunOnContainerAndSlurmBackends runs `crossin run` on the miniature
// experiment with the embedded engine, then with the trainer image (this
// tree's binary, pushed to the local registry) on the container backend and
// on the Slurm backend, and requires byte-identical results. It needs the
// services .ci/services.sh starts.
func TestRunOnContainerAndSlurmBackends(t *testing.T) {
	if testing.Short() {
		t.Skip("trains models in containers")
	}
	reg := os.Getenv("CROSSIN_TEST_REGISTRY")
	if reg == "" || os.Getenv("CROSSIN_TEST_PODMAN") != "1" {
		t.Skip("needs podman and a registry (CROSSIN_TEST_PODMAN, CROSSIN_TEST_REGISTRY; see .ci/services.sh)")
	}
	work := t.TempDir()
	bin := filepath.Join(work, "crossin")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "../cmd/crossin")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ref := reg + "/crossin/cli-run-test:latest"
	var out bytes.Buffer
	if code := Run(t.Context(), []string{"image", "build", "--platform", "linux/amd64", "--binary", "linux/amd64=" + bin, "--push", ref},
		strings.NewReader(""), &out, &out); code != 0 {
		t.Fatalf("image build: exit %d\n%s", code, out.String())
	}

	results := map[string][]byte{}
	backends := map[string]string{
		"embedded":  "",
		"container": `backends: ctr: {kind: "container", image: "` + ref + `"}` + "\nexperiments: mini: backend: \"ctr\"\n",
	}
	if os.Getenv("CROSSIN_TEST_SLURM") == "1" {
		backends["slurm"] = `backends: hpc: {kind: "slurm", image: "` + ref + `", partition: "debug"}` + "\nexperiments: mini: backend: \"hpc\"\n"
	}
	for name, extra := range backends {
		dir := filepath.Join(work, name)
		spec := miniSpec(t, dir)
		if extra != "" {
			os.WriteFile(filepath.Join(spec, "backend.cue"), []byte("package mini\n\n"+extra), 0o644)
		}
		t.Setenv("CROSSIN_CACHE", filepath.Join(dir, "cache"))
		var stdout, stderr bytes.Buffer
		if code := Run(t.Context(), []string{"run", spec, "-o", filepath.Join(dir, "out")}, strings.NewReader(""), &stdout, &stderr); code != 0 {
			t.Fatalf("%s: crossin run exit %d\n%s\n%s", name, code, stdout.String(), stderr.String())
		}
		if !strings.Contains(stderr.String(), "0 failed") {
			t.Fatalf("%s: %s", name, stderr.String())
		}
		b, err := os.ReadFile(filepath.Join(dir, "out", "mini", "results.json"))
		if err != nil {
			t.Fatal(err)
		}
		// The rows' sources name each backend's own keys and image, so
		// compare the scores.
		results[name] = withoutSources(t, b)
	}
	for name, b := range results {
		if !bytes.Equal(b, results["embedded"]) {
			t.Errorf("%s backend: the scores in results.json differ from the embedded engine's", name)
		}
	}
	t.Logf("identical scores in results.json on %d backends", len(results))
}

// withoutSources returns a results.json with the run's provenance and the
// rows' sources removed: what must not depend on the backend.
func withoutSources(t *testing.T, data []byte) []byte {
	t.Helper()
	set, err := resultset.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	set.Provenance = nil
	for i := range set.Rows {
		set.Rows[i].Source = nil
	}
	b, err := resultset.Encode(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
