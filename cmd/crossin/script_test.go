package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/crossin-lab/crossin/cli"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"crossin": func() { os.Exit(cli.Main()) },
	})
}

// TestScripts runs the CLI behaviour tests in testdata/script. Scripts can
// read the repository root as $REPO and ../shared as $SHARED; scripts that
// need the shared data start with `[!shared] skip 'needs ../shared'`.
func TestScripts(t *testing.T) {
	repo, _ := filepath.Abs("../..")
	shared := filepath.Join(repo, "..", "shared")
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
				_, err := os.Stat(filepath.Join(shared, "data"))
				return err == nil, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
	})
}
