package sharedtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestDirIsBesideRepository(t *testing.T) {
	d, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	if want := filepath.Join(filepath.Dir(root), "shared"); d != want {
		t.Errorf("Dir() = %s, want %s", d, want)
	}
}

// TestMissing runs a test that asks for an absent shared file in a child
// process, with and without CROSSIN_REQUIRE_SHARED=1: it must skip without
// and fail with the variable.
func TestMissing(t *testing.T) {
	if os.Getenv("SHAREDTEST_CHILD") == "1" {
		Path(t, "no/such/file-for-sharedtest")
		t.Log("not reached")
		return
	}
	for _, tt := range []struct {
		require  string
		wantFail bool
		want     string
	}{
		{"", false, "--- SKIP: TestMissing"},
		{"0", false, "--- SKIP: TestMissing"},
		{"1", true, "--- FAIL: TestMissing"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissing$", "-test.v")
		cmd.Env = append(os.Environ(), "SHAREDTEST_CHILD=1", EnvRequire+"="+tt.require)
		out, err := cmd.CombinedOutput()
		if (err != nil) != tt.wantFail || !strings.Contains(string(out), tt.want) || !strings.Contains(string(out), "no/such/file-for-sharedtest") || strings.Contains(string(out), "not reached") {
			t.Errorf("%s=%q: err %v, output:\n%s", EnvRequire, tt.require, err, out)
		}
	}
}

func TestLookupPresent(t *testing.T) {
	// The repository's own go.mod seen from ../shared's parent proves
	// Lookup joins rel below Dir: "../<repo>/go.mod" exists wherever the
	// repository is.
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	p, err := Lookup("../" + filepath.Base(root) + "/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
}
