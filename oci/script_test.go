package oci_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/crossin-lab/crossin/cli"
	"github.com/crossin-lab/crossin/runner/cache"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"crossin": func() { os.Exit(cli.Main()) },
		// cacheput ACTION DIR stores DIR as ACTION's output in $CROSSIN_CACHE
		// (what the runner does after a stage), to give cache push something.
		"cacheput": func() {
			c, err := cache.OpenDefault()
			if err == nil {
				_, err = c.Put(os.Args[1], os.Args[2], cache.Meta{Stage: "train/x", Kind: "train"})
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		},
	})
}

// TestIntegrationScripts runs the CLI scripts that need the real services
// of .ci/services.sh: a registry (CROSSIN_TEST_REGISTRY) and podman
// (CROSSIN_TEST_PODMAN, condition [podman]). The scripts in
// cmd/crossin/testdata/script are hermetic; these are not, so they live
// here where the environment can be passed in.
func TestIntegrationScripts(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	reg := os.Getenv("CROSSIN_TEST_REGISTRY")
	if reg == "" {
		t.Skip("integration test: CROSSIN_TEST_REGISTRY not set (run .ci/services.sh and source .ci/services.env)")
	}
	repo, _ := filepath.Abs("..")
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("REG", reg)
			// the registry outlives test runs: fresh repositories per run
			env.Setenv("RUNID", strconv.FormatInt(time.Now().UnixNano(), 36))
			env.Setenv("REPO", repo)
			env.Setenv("CROSSIN_CACHE", filepath.Join(env.WorkDir, ".cache"))
			env.Setenv("CROSSIN_CONTAINER_ENGINE", os.Getenv("CROSSIN_CONTAINER_ENGINE"))
			// the Go toolchain for `crossin image build` from source
			for _, k := range []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOFLAGS", "GOPROXY"} {
				if v := os.Getenv(k); v != "" {
					env.Setenv(k, v)
				}
			}
			if os.Getenv("GOCACHE") == "" {
				out, _ := exec.Command("go", "env", "GOCACHE", "GOMODCACHE").Output()
				var gc, gm string
				fmt.Sscan(string(out), &gc, &gm)
				env.Setenv("GOCACHE", gc)
				env.Setenv("GOMODCACHE", gm)
			}
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "podman":
				return os.Getenv("CROSSIN_TEST_PODMAN") != "", nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
	})
}
