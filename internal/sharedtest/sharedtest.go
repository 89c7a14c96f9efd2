// Package sharedtest is the one way tests reach the team's shared data
// (../shared beside the repository: full data sets and reference outputs
// too large or too restricted to ship in the repository).
//
// A developer without ../shared still gets a green, useful test run: tests
// that need it skip with a message naming what is missing. CI must not be
// green that way, so with CROSSIN_REQUIRE_SHARED=1 (set by .ci/run) a
// missing shared file fails the test instead of skipping it.
//
// Files the repository itself ships never go through this package: a test
// that cannot find one of those must fail, not skip.
package sharedtest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// EnvRequire names the variable that turns a missing shared file from a
// skip into a failure.
const EnvRequire = "CROSSIN_REQUIRE_SHARED"

// Required reports whether tests must fail, not skip, when shared data is
// missing.
func Required() bool { return os.Getenv(EnvRequire) == "1" }

// Path returns the path of rel (slash-separated, relative to ../shared)
// when it exists. When it does not, the test skips with a message, or
// fails under CROSSIN_REQUIRE_SHARED=1. Path("") is the shared folder.
func Path(t testing.TB, rel string) string {
	t.Helper()
	p, err := Lookup(rel)
	if err != nil {
		Missing(t, err)
	}
	return p
}

// Missing ends the test for missing shared data described by err: a skip,
// or a failure under CROSSIN_REQUIRE_SHARED=1.
func Missing(t testing.TB, err error) {
	t.Helper()
	if Required() {
		t.Fatalf("%v (%s=1: shared data is required)", err, EnvRequire)
	}
	t.Skipf("%v; skipping (set %s=1 to fail instead)", err, EnvRequire)
}

// Lookup returns the path of rel in ../shared and an error saying what is
// missing when it does not exist. It is for callers that decide themselves
// what absence means (a testscript condition, a benchmark's setup); tests
// use Path.
func Lookup(rel string) (string, error) {
	dir, err := Dir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		return p, fmt.Errorf("shared data %s is missing (the team's data lives in ../shared beside the repository): %w", p, err)
	}
	return p, nil
}

// Dir returns ../shared relative to the repository root, found by walking up
// from the working directory (a package's directory under go test) to
// go.mod. The folder need not exist.
func Dir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(filepath.Dir(d), "shared"), nil
		}
		up := filepath.Dir(d)
		if up == d {
			return "", errors.New("sharedtest: no go.mod above " + wd)
		}
		d = up
	}
}
