package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crossin-lab/crossin/resultset"
)

// pushTestImage builds this tree's crossin into a trainer image, pushes it
// to the test registry as ref and returns the digest-pinned reference.
func pushTestImage(t *testing.T, work, ref string) string {
	t.Helper()
	bin := filepath.Join(work, "crossin")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "../cmd/crossin")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var out bytes.Buffer
	if code := Run(t.Context(), []string{"image", "build", "--platform", "linux/amd64", "--binary", "linux/amd64=" + bin, "--push", ref},
		strings.NewReader(""), &out, &out); code != 0 {
		t.Fatalf("image build: exit %d\n%s", code, out.String())
	}
	return strings.TrimSpace(out.String())
}

// TestVerifyRecordAgainstRemoteCache makes a record on the container
// backend (and on the Slurm backend where the services have one) with a
// remote cache, then verifies it from another directory with an empty
// local cache: every row is verified from the remote cache alone, and
// nothing is run or pulled into the local cache.
func TestVerifyRecordAgainstRemoteCache(t *testing.T) {
	if testing.Short() {
		t.Skip("trains models in containers")
	}
	reg := os.Getenv("CROSSIN_TEST_REGISTRY")
	if reg == "" || os.Getenv("CROSSIN_TEST_PODMAN") != "1" {
		t.Skip("needs podman and a registry (CROSSIN_TEST_PODMAN, CROSSIN_TEST_REGISTRY; see .ci/services.sh)")
	}
	root := t.TempDir()
	image := pushTestImage(t, root, reg+"/crossin/verify-test:latest")
	if !strings.Contains(image, "@sha256:") {
		t.Fatalf("image build printed %q, want a digest-pinned reference", image)
	}
	backends := map[string]string{"container": `{kind: "container", image: "` + image + `"}`}
	if os.Getenv("CROSSIN_TEST_SLURM") == "1" {
		backends["slurm"] = `{kind: "slurm", image: "` + image + `", partition: "debug"}`
	}
	for kind, be := range backends {
		t.Run(kind, func(t *testing.T) {
			remote := fmt.Sprintf("%s/crossin/verify-remote-%s-%d", reg, kind, time.Now().UnixNano())
			extra := "package mini\n\nbackends: be: " + be + "\n" +
				"experiments: mini: {backend: \"be\", remote: \"" + remote + "\"}\n"
			verifyElsewhere(t, filepath.Join(root, kind), kind, extra, remote)
		})
	}
}

func verifyElsewhere(t *testing.T, root, kind, extra, remote string) {
	// The record, made in one directory with its own cache; verified in
	// another with an empty one.
	made, other := filepath.Join(root, "made"), filepath.Join(root, "other")
	os.WriteFile(filepath.Join(miniSpec(t, made), "backend.cue"), []byte(extra), 0o644)
	os.WriteFile(filepath.Join(miniSpec(t, other), "backend.cue"), []byte(extra), 0o644)
	t.Chdir(made)
	t.Setenv("CROSSIN_CACHE", filepath.Join(made, "cache"))
	var stdout, stderr bytes.Buffer
	if code := Run(t.Context(), []string{"run", "a/b/spec", "-o", "out"}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("crossin run exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	data, err := os.ReadFile(filepath.Join(made, "out", "mini", "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := resultset.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rec.Rows {
		if r.Source == nil || r.Source.Backend != kind || r.Source.ImageDigest == "" || len(r.Source.Unpinned) > 0 {
			t.Fatalf("row %s: source %+v, want the %s backend, its digest, nothing unpinned", r.Cell, r.Source, kind)
		}
	}

	// Elsewhere: the same spec and the record, an empty local cache.
	os.WriteFile(filepath.Join(other, "results.json"), data, 0o644)
	t.Chdir(other)
	cacheDir := filepath.Join(other, "cache")
	t.Setenv("CROSSIN_CACHE", cacheDir)
	stdout.Reset()
	stderr.Reset()
	if code := Run(t.Context(), []string{"verify", "results.json"}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("verify exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "3 rows: 3 verified") {
		t.Errorf("verify:\n%s", stdout.String())
	}
	if ents, _ := os.ReadDir(filepath.Join(cacheDir, "o")); len(ents) > 0 {
		t.Errorf("verify wrote %d output shards into the local cache", len(ents))
	}
	// Without the remote, the same record cannot be verified here.
	stdout.Reset()
	os.WriteFile(filepath.Join(other, "a", "b", "spec", "backend.cue"), []byte(strings.Replace(extra, ", remote: \""+remote+"\"", "", 1)), 0o644)
	if code := Run(t.Context(), []string{"verify", "results.json"}, strings.NewReader(""), &stdout, &stderr); code == 0 {
		t.Errorf("verified without the remote cache and with an empty local one:\n%s", stdout.String())
	}
}
