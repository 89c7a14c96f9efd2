package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/crossin-lab/crossin/cli"
	"github.com/crossin-lab/crossin/internal/sharedtest"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"crossin": func() { os.Exit(cli.Main()) },
	})
}

// TestScripts runs the CLI behaviour tests in testdata/script. Scripts can
// read the repository root as $REPO and ../shared as $SHARED; scripts that
// need the shared data start with `[!shared] skip 'needs ../shared'`. Under
// CROSSIN_REQUIRE_SHARED=1 the [shared] condition is an error when
// ../shared/data is absent, so such a script fails instead of skipping.
func TestScripts(t *testing.T) {
	repo, _ := filepath.Abs("../..")
	shared, err := sharedtest.Dir()
	if err != nil {
		t.Fatal(err)
	}
	python := numpyPython()
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("REPO", repo)
			env.Setenv("SHARED", shared)
			env.Setenv("PYTHON", python)
			env.Setenv("CROSSIN_CACHE", filepath.Join(env.WorkDir, ".crossin-cache"))
			return nil
		},
		UpdateScripts: os.Getenv("UPDATE_SCRIPTS") == "1",
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "shared":
				return sharedCondition("data")
			case "numpy":
				return numpyCondition()
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
	})
}

// sharedCondition is the [shared] condition: true when ../shared/<rel>
// exists; when it does not, false, or an error (failing the script) under
// CROSSIN_REQUIRE_SHARED=1.
func sharedCondition(rel string) (bool, error) {
	if _, err := sharedtest.Lookup(rel); err != nil {
		if sharedtest.Required() {
			return false, fmt.Errorf("%v (%s=1: shared data is required)", err, sharedtest.EnvRequire)
		}
		return false, nil
	}
	return true, nil
}

// numpyPython is a Python that imports numpy (the reference builder's
// sampler): Debian's /usr/bin/python3 first, then python3 on PATH; "" if
// none does. Scripts run it as $PYTHON.
func numpyPython() string {
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import numpy").Run() == nil {
			return py
		}
	}
	return ""
}

// numpyCondition is the [numpy] condition: a Python with numpy exists.
// Under CROSSIN_REQUIRE_NUMPY=1 (CI, which installs python3-numpy) its
// absence fails the script instead.
func numpyCondition() (bool, error) {
	if numpyPython() == "" {
		if os.Getenv("CROSSIN_REQUIRE_NUMPY") == "1" {
			return false, fmt.Errorf("no python3 can import numpy; CROSSIN_REQUIRE_NUMPY=1: apt-get install python3-numpy")
		}
		return false, nil
	}
	return true, nil
}

func TestSharedCondition(t *testing.T) {
	for _, tt := range []struct {
		require, rel string
		want, err    bool
	}{
		{"", "no/such/dir-for-script-test", false, false},
		{"1", "no/such/dir-for-script-test", false, true},
	} {
		t.Setenv(sharedtest.EnvRequire, tt.require)
		got, err := sharedCondition(tt.rel)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("%s=%q %s: got %v, %v", sharedtest.EnvRequire, tt.require, tt.rel, got, err)
		}
	}
	if _, err := sharedtest.Lookup("data"); err == nil {
		if got, err := sharedCondition("data"); !got || err != nil {
			t.Errorf("present ../shared/data: got %v, %v", got, err)
		}
	}
}
