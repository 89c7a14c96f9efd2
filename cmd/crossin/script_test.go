package main

import (
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
// read the repository root as $REPO and ../shared as $SHARED (scripts that
// need it start with `[!exists $SHARED] skip`).
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
	})
}
