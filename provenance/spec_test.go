package provenance

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/resultset"
	"github.com/crossin-lab/crossin/schema"
)

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// A spec in git is recorded by its commit (dirty when a spec file differs
// from it), and a record is checked against the spec at that commit even
// after the working tree changed.
func TestSpecInGitIsReadAtTheRecordedCommit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("needs git")
	}
	repo := t.TempDir()
	git(t, repo, "init", "-q")
	specDir := filepath.Join(repo, "experiments")
	os.MkdirAll(specDir, 0o777)
	path := filepath.Join(specDir, "mini.cue")
	text := miniSpecText(t)
	if err := os.WriteFile(path, []byte(text), 0o666); err != nil {
		t.Fatal(err)
	}
	git(t, repo, "add", "-A")
	git(t, repo, "commit", "-q", "-m", "spec")
	spec, err := schema.Load(specDir)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := DescribeSpec(spec.Files)
	if err != nil {
		t.Fatal(err)
	}
	if sp.Root != RootGit || len(sp.Commit) != 40 || sp.Dirty || len(sp.Files) != 1 || sp.Files[0].Path != "experiments/mini.cue" {
		t.Fatalf("spec provenance %+v", sp)
	}
	rec := &resultset.Set{Experiment: "mini", Provenance: &resultset.Provenance{Spec: *sp}}

	// The working tree moves on: the record still names the committed spec.
	edited := strings.Replace(text, "learning_rate: 1e-3", "learning_rate: 5e-3", 1)
	if err := os.WriteFile(path, []byte(edited), 0o666); err != nil {
		t.Fatal(err)
	}
	if now, err := DescribeSpec(spec.Files); err != nil || !now.Dirty || now.Commit != sp.Commit {
		t.Errorf("after an edit: %+v, %v; want the same commit, dirty", now, err)
	}
	t.Chdir(specDir) // anywhere inside the clone
	got, src, err := LoadSpec(rec)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Cleanup()
	if src.Where != "commit "+sp.Commit || len(src.Changed) != 1 {
		t.Errorf("spec source %+v, want the recorded commit", src)
	}
	if lr := got.Experiments[0].Cells[0].Train.LearningRate; lr != 1e-3 {
		t.Errorf("loaded learning rate %v, want the committed 1e-3", lr)
	}
	dir := src.Dir
	src.Cleanup()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the temporary checkout %s was not removed", dir)
	}

	// Unchanged files are used in place.
	os.WriteFile(path, []byte(text), 0o666)
	_, src2, err := LoadSpec(rec)
	if err != nil {
		t.Fatal(err)
	}
	if src2.Where != "working tree" || src2.Dir != "" {
		t.Errorf("spec source %+v, want the working tree", src2)
	}
}
