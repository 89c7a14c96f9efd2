package bench

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/hub"
)

// TestLoadHub serves SeaEval's dataset layout (a JSON array per benchmark at
// the repository root) from a fake hub and loads it through the hub client.
func TestLoadHub(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef01234567"
	arr := "[\n" + strings.Replace(strings.TrimSpace(sampleLines), "\n", ",\n", 1) + "\n]\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/api/datasets/SeaEval/SeaEval_datasets/revision/"):
			json.NewEncoder(w).Encode(map[string]any{"sha": sha, "siblings": []map[string]any{{"rfilename": "cross_mmlu.json"}}})
		case r.URL.Path == "/datasets/SeaEval/SeaEval_datasets/resolve/"+sha+"/cross_mmlu.json":
			w.Header().Set("X-Repo-Commit", sha)
			w.Write([]byte(arr))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c := hub.NewClient(hub.WithEndpoint(srv.URL), hub.WithCacheDir(t.TempDir()), hub.WithToken(""), hub.WithOffline(false))
	b, commit, err := LoadHub(context.Background(), c, "cross_mmlu", "")
	if err != nil {
		t.Fatal(err)
	}
	if commit != sha || b.Name != "cross_mmlu" || len(b.Questions) != 2 || !strings.Contains(b.Path, sha) {
		t.Fatalf("got %s %q %d questions %s", commit, b.Name, len(b.Questions), b.Path)
	}
	// A pinned commit is served from the cache afterwards, even offline.
	off := hub.NewClient(hub.WithEndpoint(srv.URL), hub.WithCacheDir(c.CacheDir()), hub.WithOffline(true))
	if _, _, err := LoadHub(context.Background(), off, "cross_mmlu", sha); err != nil {
		t.Fatalf("offline reload: %v", err)
	}
	if _, _, err := LoadHub(context.Background(), c, "cross_logiqa", ""); err == nil {
		t.Fatal("missing file: no error")
	}
	if _, _, err := LoadHub(context.Background(), c, "cross_xquad", ""); err == nil || !strings.Contains(err.Error(), "build-xquad") {
		t.Fatalf("cross_xquad: %v", err)
	}
}
