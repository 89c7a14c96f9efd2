package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/internal/cachedir"
	"github.com/crossin-lab/crossin/runner/cache"
)

// TestGCKeepZeroAsks: `cache gc --keep-days 0` removes every entry only
// after a "y" on a terminal; anything else removes nothing.
func TestGCKeepZeroAsks(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(cachedir.Env, dir)
	c, err := cache.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "out")
	os.MkdirAll(src, 0o777)
	os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o666)
	if _, err := c.Put(strings.Repeat("ab", 32), src, cache.Meta{Stage: "s"}); err != nil {
		t.Fatal(err)
	}
	stdinIsTerminal = func(any) bool { return true }
	defer func() { stdinIsTerminal = isTerminal }()
	for _, tt := range []struct {
		answer string
		code   int
		left   int
	}{
		{"n\n", ExitFailure, 1},
		{"\n", ExitFailure, 1},
		{"y\n", ExitOK, 0},
	} {
		var out, errb bytes.Buffer
		code := Run(context.Background(), []string{"cache", "gc", "--keep-days", "0"}, strings.NewReader(tt.answer), &out, &errb)
		if !strings.Contains(errb.String(), "remove every cache entry (") {
			t.Errorf("answer %q: no question asked: %s", tt.answer, errb.String())
		}
		n, _ := c.Usage()
		if code != tt.code || n != tt.left {
			t.Errorf("answer %q: exit %d with %d entries left, want exit %d and %d left\n%s%s", tt.answer, code, n, tt.code, tt.left, out.String(), errb.String())
		}
	}
}
