package plan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestArithmeticInEmbeddedKeys checks that the embedded engine's
// arithmetic path enters the keys of the stages that engine computes
// (train and eval on an embedded backend; downstream planned keys follow
// them until outputs are known), not those of model and data stages, and
// no key of a container backend.
func TestArithmeticInEmbeddedKeys(t *testing.T) {
	dir := copyDir(t, "testdata/grid")
	amd := build(t, dir, WithArithmetic("amd64-avx2-fma"))
	arm := build(t, dir, WithArithmetic("arm64-generic"))
	diff := changed(amd, arm)
	if len(diff) == 0 {
		t.Fatal("the arithmetic path changed no key")
	}
	for _, id := range diff {
		if strings.HasPrefix(id, "model/") || strings.HasPrefix(id, "data/") {
			t.Errorf("%s: key depends on the arithmetic path", id)
		}
	}
	for _, s := range amd.Stages {
		if (s.Kind == KindTrain || s.Kind == KindEval) && !contains(diff, s.ID) {
			t.Errorf("%s: key does not depend on the arithmetic path", s.ID)
		}
		if (s.Kind == KindTrain || s.Kind == KindEval) && !strings.Contains(string(s.Key.Canonical()), "amd64-avx2-fma") {
			t.Errorf("%s: arithmetic path not in the key: %s", s.ID, s.Key.Canonical())
		}
	}
	// A container backend is keyed on its image, not on the planner's CPU.
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	src := "backends: gpu: {kind: \"container\", image: \"example.org/trainer@" + digest + "\"}\nexperiments: grid: backend: \"gpu\"\n"
	if err := os.WriteFile(filepath.Join(dir, "backend.cue"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if d := changed(build(t, dir, WithArithmetic("amd64-avx2-fma")), build(t, dir, WithArithmetic("arm64-generic"))); len(d) != 0 {
		t.Errorf("container stages keyed on the arithmetic path: %v", d)
	}
}
