package cachedir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDir(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	for _, tc := range []struct {
		name        string
		env         string
		home, cache string // $HOME and $XDG_CACHE_HOME
		want        string
		err         string
	}{
		{name: "absolute env", env: "/srv/crossin-cache", want: "/srv/crossin-cache"},
		{name: "relative env is made absolute", env: "rel/cache", want: filepath.Join(wd, "rel/cache")},
		{name: "XDG cache home", cache: "/xdg", home: home, want: "/xdg/crossin"},
		{name: "home", home: home, want: filepath.Join(home, ".cache", "crossin")},
		{name: "nowhere", err: "no cache directory: set CROSSIN_CACHE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(Env, tc.env)
			t.Setenv("HOME", tc.home)
			t.Setenv("XDG_CACHE_HOME", tc.cache)
			got, err := Dir()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Dir() = %q, %v; want error %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("Dir() = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestOneResolver keeps Dir the only resolver: no other non-test Go file
// reads $CROSSIN_CACHE or asks for the user cache directory.
func TestOneResolver(t *testing.T) {
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "shared" || n == "cachedir") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, bad := range []string{`Getenv("CROSSIN_CACHE")`, "os.UserCacheDir("} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s uses %s: resolve the cache directory with cachedir.Dir", path, bad)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
