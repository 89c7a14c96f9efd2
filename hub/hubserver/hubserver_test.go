package hubserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/hub"
)

func testRepos() []Repo {
	return []Repo{
		{Kind: Models, ID: "acme/tiny", Files: map[string][]byte{
			"config.json":       []byte(`{"model_type":"llama"}`),
			"model.safetensors": []byte(strings.Repeat("w", 4096)),
		}},
		{Kind: Datasets, ID: "acme/data", Files: map[string][]byte{
			"README.md":                 []byte("# data\n"),
			"data/train-0.parquet":      []byte(strings.Repeat("PAR1", 100)),
			"data/sub dir/a+b.json":     []byte(`[1]`),
			"cross_mmlu.json":           []byte(`[]`),
			"nested/deeper/x/file.json": []byte(`{}`),
		}},
	}
}

func client(t *testing.T, url string, opts ...hub.Option) *hub.Client {
	return hub.NewClient(append([]hub.Option{hub.WithEndpoint(url), hub.WithToken(""), hub.WithCacheDir(t.TempDir()),
		hub.WithOffline(false), hub.WithRetries(0)}, opts...)...)
}

// The real hub client resolves, lists and downloads every file, LFS
// (redirected, sha256-checked) and plain (git-blob-checked) alike.
func TestClientRoundTrip(t *testing.T) {
	s, err := New(testRepos())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := client(t, srv.URL)
	ctx := context.Background()
	for _, r := range testRepos() {
		typ := hub.Model
		if r.Kind == Datasets {
			typ = hub.Dataset
		}
		commit, files, err := c.Fetch(ctx, typ, r.ID, "main", nil)
		if err != nil {
			t.Fatalf("%s: %v", r.ID, err)
		}
		if want, _ := s.Commit(r.Kind, r.ID, "main"); commit != want {
			t.Errorf("%s: commit %s, want %s", r.ID, commit, want)
		}
		if len(files) != len(r.Files) {
			t.Errorf("%s: %d files, want %d", r.ID, len(files), len(r.Files))
		}
		for p, local := range files {
			got, err := os.ReadFile(local)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(r.Files[p]) {
				t.Errorf("%s/%s: content differs", r.ID, p)
			}
		}
	}
}

// The same files always make the same commit; different files another.
func TestCommitIsContentAddress(t *testing.T) {
	a, _ := New(testRepos())
	b, _ := New(testRepos())
	ca, _ := a.Commit(Models, "acme/tiny", "main")
	cb, _ := b.Commit(Models, "acme/tiny", "main")
	if ca != cb || !hub.IsCommit(ca) {
		t.Fatalf("commits %q and %q: want equal 40-hex ids", ca, cb)
	}
	r := testRepos()[0]
	r.Files["config.json"] = []byte(`{"model_type":"mistral"}`)
	c2, err := a.Add(r)
	if err != nil {
		t.Fatal(err)
	}
	if c2 == ca {
		t.Fatal("changed files kept the commit id")
	}
	if m, _ := a.Commit(Models, "acme/tiny", "main"); m != c2 {
		t.Fatalf("main = %s after Add, want %s", m, c2)
	}
	// The old commit is still served.
	srv := httptest.NewServer(a)
	defer srv.Close()
	p, err := client(t, srv.URL).Download(context.Background(), hub.Model, "acme/tiny", ca, "config.json")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != `{"model_type":"llama"}` {
		t.Fatalf("old commit served %q", b)
	}
}

func TestErrors(t *testing.T) {
	s, _ := New(testRepos())
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := client(t, srv.URL)
	ctx := context.Background()
	tests := []struct {
		name string
		run  func() error
		code string
	}{
		{"unknown repo", func() error { _, err := c.Resolve(ctx, hub.Model, "acme/none", "main"); return err }, "RepoNotFound"},
		{"unknown revision", func() error { _, err := c.Resolve(ctx, hub.Dataset, "acme/data", "v9"); return err }, "RevisionNotFound"},
		{"unknown file", func() error {
			commit, _ := s.Commit(Datasets, "acme/data", "main")
			_, err := c.Download(ctx, hub.Dataset, "acme/data", commit, "nope.json")
			return err
		}, "EntryNotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if !errors.Is(err, hub.ErrNotFound) || !strings.Contains(err.Error(), tt.code) {
				t.Fatalf("error %v: want ErrNotFound with %s", err, tt.code)
			}
		})
	}
}

func TestToken(t *testing.T) {
	s, _ := New(testRepos(), WithToken("sekret"))
	srv := httptest.NewServer(s)
	defer srv.Close()
	ctx := context.Background()
	if _, err := client(t, srv.URL).Resolve(ctx, hub.Model, "acme/tiny", "main"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("without token: %v, want 401", err)
	}
	if _, err := client(t, srv.URL, hub.WithToken("sekret")).Resolve(ctx, hub.Model, "acme/tiny", "main"); err != nil {
		t.Fatalf("with token: %v", err)
	}
}

// The tree API lists one level, or every level with recursive=1; raw/
// answers an LFS file's pointer, as git stores it.
func TestTreeAndRaw(t *testing.T) {
	s, _ := New(testRepos())
	srv := httptest.NewServer(s)
	defer srv.Close()
	get := func(path string) (string, *http.Response) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), resp
	}
	paths := func(body string) []string {
		var es []treeEntry
		if err := json.Unmarshal([]byte(body), &es); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		var out []string
		for _, e := range es {
			out = append(out, e.Type[:1]+":"+e.Path)
		}
		return out
	}
	tests := []struct{ url, want string }{
		{"/api/datasets/acme/data/tree/main", "f:README.md f:cross_mmlu.json d:data d:nested"},
		{"/api/datasets/acme/data/tree/main/data", "d:data/sub dir f:data/train-0.parquet"},
		{"/api/datasets/acme/data/tree/main/nested?recursive=1", "d:nested/deeper d:nested/deeper/x f:nested/deeper/x/file.json"},
	}
	for _, tt := range tests {
		body, resp := get(tt.url)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %s", tt.url, resp.Status)
		}
		if got := strings.Join(paths(body), " "); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.url, got, tt.want)
		}
	}
	// A directory the repository does not have is the hub's 404, not an
	// empty listing.
	if body, resp := get("/api/datasets/acme/data/tree/main/nope"); resp.StatusCode != 404 || !strings.Contains(body, "no such directory") {
		t.Errorf("tree of a missing directory: %s %q, want 404", resp.Status, body)
	}
	body, resp := get("/datasets/acme/data/raw/main/data/train-0.parquet")
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "version https://git-lfs.github.com/spec/v1\noid sha256:") {
		t.Errorf("raw LFS file: %s %q", resp.Status, body)
	}
	body, _ = get("/datasets/acme/data/raw/main/data/sub%20dir/a%2Bb.json")
	if body != "[1]" {
		t.Errorf("raw file with escaped name: %q", body)
	}
}

func TestLoadWrite(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, testRepos()); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "datasets", "acme", "data", ".hidden"), []byte("x"), 0o644)
	repos, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := New(repos)
	b, _ := New(testRepos())
	for _, r := range testRepos() {
		ca, _ := a.Commit(r.Kind, r.ID, "main")
		cb, _ := b.Commit(r.Kind, r.ID, "main")
		if ca != cb {
			t.Errorf("%s: loaded commit %s, in-memory %s", r.ID, ca, cb)
		}
	}
	if _, err := Load(t.TempDir()); err == nil {
		t.Error("Load of an empty directory: no error")
	}
}

// HEAD answers the metadata huggingface_hub reads (commit, etag, size)
// without a body; an LFS file's HEAD is the redirect with its sha256.
func TestHead(t *testing.T) {
	s, _ := New(testRepos())
	srv := httptest.NewServer(s)
	defer srv.Close()
	commit, _ := s.Commit(Datasets, "acme/data", "main")
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tests := []struct {
		path, status, etag, linked string
	}{
		{"/datasets/acme/data/resolve/main/README.md", "200 OK", `"` + GitBlobID([]byte("# data\n")) + `"`, ""},
		{"/datasets/acme/data/resolve/" + commit + "/data/train-0.parquet", "302 Found", "", "400"},
		{"/acme/tiny/resolve/main/config.json", "200 OK", `"` + GitBlobID([]byte(`{"model_type":"llama"}`)) + `"`, ""},
	}
	for _, tt := range tests {
		resp, err := noFollow.Head(srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Status != tt.status || resp.Header.Get("X-Repo-Commit") == "" {
			t.Errorf("HEAD %s: %s, X-Repo-Commit %q", tt.path, resp.Status, resp.Header.Get("X-Repo-Commit"))
		}
		if tt.etag != "" && resp.Header.Get("ETag") != tt.etag {
			t.Errorf("HEAD %s: ETag %s, want %s", tt.path, resp.Header.Get("ETag"), tt.etag)
		}
		if tt.linked != "" && (resp.Header.Get("X-Linked-Size") != tt.linked || len(resp.Header.Get("X-Linked-Etag")) != 66) {
			t.Errorf("HEAD %s: X-Linked-Size %q, X-Linked-Etag %q", tt.path, resp.Header.Get("X-Linked-Size"), resp.Header.Get("X-Linked-Etag"))
		}
	}
}
