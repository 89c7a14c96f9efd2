package main

import (
	"fmt"
	"os"
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
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("REPO", repo)
			env.Setenv("SHARED", shared)
			env.Setenv("CROSSIN_CACHE", filepath.Join(env.WorkDir, ".crossin-cache"))
			return nil
		},
		UpdateScripts: os.Getenv("UPDATE_SCRIPTS") == "1",
		Condition: func(cond string) (bool, error) {
			if cond == "shared" {
				return sharedCondition("data")
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
