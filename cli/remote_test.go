package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunWithRemoteCache runs the miniature experiment with a remote cache
// in the local registry, then again with an empty local cache: the second
// run pulls every stage (verified by digest) instead of running it, and
// gives byte-identical results.
func TestRunWithRemoteCache(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	reg := os.Getenv("CROSSIN_TEST_REGISTRY")
	if reg == "" {
		t.Skip("needs a registry (CROSSIN_TEST_REGISTRY; see .ci/services.sh)")
	}
	work := t.TempDir()
	spec := miniSpec(t, work)
	// A fresh repository per test run: the CI registry outlives runs.
	repo := fmt.Sprintf("%s/crossin/remote-test-%d", reg, time.Now().UnixNano())
	os.WriteFile(filepath.Join(spec, "remote.cue"), []byte("package mini\n\nexperiments: mini: remote: \""+repo+"\"\n"), 0o644)

	run := func(name string) (string, []byte) {
		t.Setenv("CROSSIN_CACHE", filepath.Join(work, "cache-"+name))
		var stdout, stderr bytes.Buffer
		out := filepath.Join(work, "out-"+name)
		if code := Run(t.Context(), []string{"run", spec, "-o", out}, strings.NewReader(""), &stdout, &stderr); code != 0 {
			t.Fatalf("%s: exit %d\n%s\n%s", name, code, stdout.String(), stderr.String())
		}
		b, err := os.ReadFile(filepath.Join(out, "mini", "results.json"))
		if err != nil {
			t.Fatal(err)
		}
		return stderr.String(), b
	}
	log1, res1 := run("first")
	if !strings.Contains(log1, "run: 12 stages: 12 ran") || strings.Count(log1, "pushed   ") != 12 {
		t.Fatalf("first run should run and push all 12 stages:\n%s", log1)
	}
	log2, res2 := run("second")
	if !strings.Contains(log2, "0 ran, 12 cached") || strings.Count(log2, "pulled   ") != 12 {
		t.Fatalf("second run should pull all 12 stages:\n%s", log2)
	}
	if !bytes.Equal(res1, res2) {
		t.Errorf("results differ after a pull from the remote cache")
	}
}
