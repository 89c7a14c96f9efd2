package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crossin-lab/crossin/hub/hubserver"
)

// fakeHub is the hub API of hubserver (the server smoke runs use) with
// faults injected in front of it: a required token, 503 answers, bodies
// cut short or corrupted after the headers announced the right hash. It
// also counts requests and records the last Authorization header.
type fakeHub struct {
	srv      *hubserver.Server
	mu       sync.Mutex
	files    map[string][]byte // path -> content of the first commit
	c0       string            // the first commit ("main" and tag "v1.0")
	truncate map[string]bool   // paths whose body is cut short
	corrupt  map[string]bool   // paths whose body differs from the announced hash
	token    string            // required bearer token ("" = public)
	hits     map[string]int    // request path -> count
	lastAuth string
	fail5xx  int // number of 503 answers before a success
}

const repo = "SeaEval/SeaEval_datasets"

func newFakeHub(t *testing.T, files map[string][]byte) *fakeHub {
	t.Helper()
	// LFS by extension, as on the hub: the .parquet file is redirected.
	srv, err := hubserver.New([]hubserver.Repo{{Kind: hubserver.Datasets, ID: repo, Files: files}})
	if err != nil {
		t.Fatal(err)
	}
	c0, _ := srv.Commit(hubserver.Datasets, repo, "main")
	if err := srv.SetRef(hubserver.Datasets, repo, "v1.0", c0); err != nil {
		t.Fatal(err)
	}
	return &fakeHub{srv: srv, files: files, c0: c0, truncate: map[string]bool{}, corrupt: map[string]bool{}, hits: map[string]int{}}
}

func commitID(n int) string { return fmt.Sprintf("%040x", n+0xabc) }

func (f *fakeHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.hits[r.URL.Path]++
	f.lastAuth = r.Header.Get("Authorization")
	token, fail := f.token, f.fail5xx > 0
	if fail {
		f.fail5xx--
	}
	// The file a download answers with: /.../resolve/COMMIT/PATH, or
	// /cdn/SHA256 for a redirected LFS file.
	var target string
	for p, b := range f.files {
		sum := sha256.Sum256(b)
		if strings.HasSuffix(r.URL.Path, "/resolve/"+f.c0+"/"+p) || r.URL.Path == "/cdn/"+hex.EncodeToString(sum[:]) {
			target = p
		}
	}
	cut, bad := f.truncate[target], f.corrupt[target]
	f.mu.Unlock()
	if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
		w.Header().Set("X-Error-Code", "GatedRepo")
		http.Error(w, `{"error":"Access to this repo is restricted"}`, http.StatusUnauthorized)
		return
	}
	if fail {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	if !cut && !bad {
		f.srv.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, r)
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	body := rec.Body.Bytes()
	if rec.Code != http.StatusOK {
		w.WriteHeader(rec.Code)
		w.Write(body)
		return
	}
	if bad {
		body = append([]byte(nil), body...)
		body[0] ^= 1
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if cut {
		w.Write(body[:len(body)/2]) // the server closes the connection early
		return
	}
	w.Write(body)
}

func setup(t *testing.T) (*fakeHub, *httptest.Server, *Client) {
	t.Helper()
	f := newFakeHub(t, map[string][]byte{
		"README.md":               []byte("# SeaEval datasets\n"),
		"cross_mmlu/test.json":    []byte(`[{"id":1,"question":"2+2?"}]`),
		"data/train-0.parquet":    []byte(strings.Repeat("PAR1", 1000)),
		"dir with space/a b.json": []byte(`{"ok":true}`),
	})
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c := NewClient(WithEndpoint(srv.URL), WithToken(""), WithCacheDir(t.TempDir()), WithOffline(false), WithRetries(0))
	return f, srv, c
}

func TestResolveListDownload(t *testing.T) {
	f, _, c := setup(t)
	ctx := context.Background()
	commit, err := c.Resolve(ctx, Dataset, repo, "main")
	if err != nil {
		t.Fatal(err)
	}
	if commit != f.c0 {
		t.Fatalf("Resolve(main) = %s, want %s", commit, f.c0)
	}
	files, err := c.ListFiles(ctx, Dataset, repo, commit)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 4 {
		t.Fatalf("ListFiles: %d files, want 4: %+v", len(files), files)
	}
	for _, fl := range files {
		local, err := c.Download(ctx, Dataset, repo, commit, fl.Path)
		if err != nil {
			t.Fatalf("Download(%s): %v", fl.Path, err)
		}
		got, err := os.ReadFile(local)
		if err != nil {
			t.Fatal(err)
		}
		want := f.files[fl.Path]
		if string(got) != string(want) {
			t.Errorf("Download(%s): content differs", fl.Path)
		}
		sum := sha256.Sum256(want)
		if !strings.HasSuffix(local, hex.EncodeToString(sum[:])) {
			t.Errorf("Download(%s) = %s, want a path named by its sha256", fl.Path, local)
		}
	}
	// A second download is served from the cache: no new request.
	before := f.hits["/datasets/"+repo+"/resolve/"+commit+"/README.md"]
	if _, err := c.Download(ctx, Dataset, repo, commit, "README.md"); err != nil {
		t.Fatal(err)
	}
	if after := f.hits["/datasets/"+repo+"/resolve/"+commit+"/README.md"]; after != before {
		t.Errorf("cached download hit the server again (%d -> %d)", before, after)
	}
}

func TestOffline(t *testing.T) {
	_, srv, c := setup(t)
	ctx := context.Background()
	commit, _, err := c.Fetch(ctx, Dataset, repo, "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.Close() // the hub is gone
	off := NewClient(WithEndpoint(srv.URL), WithCacheDir(c.CacheDir()), WithOffline(true))
	got, err := off.Resolve(ctx, Dataset, repo, "main")
	if err != nil || got != commit {
		t.Fatalf("offline Resolve(main) = %q, %v; want %s", got, err, commit)
	}
	files, err := off.ListFiles(ctx, Dataset, repo, commit)
	if err != nil || len(files) != 4 {
		t.Fatalf("offline ListFiles = %v, %v", files, err)
	}
	if _, err := off.Download(ctx, Dataset, repo, commit, "cross_mmlu/test.json"); err != nil {
		t.Fatalf("offline Download: %v", err)
	}
	// Online mode with the server gone still serves a pinned commit from cache.
	on := NewClient(WithEndpoint(srv.URL), WithCacheDir(c.CacheDir()), WithOffline(false), WithRetries(0))
	if _, err := on.Download(ctx, Dataset, repo, commit, "README.md"); err != nil {
		t.Fatalf("cached Download with hub down: %v", err)
	}
	if _, err := off.Resolve(ctx, Dataset, repo, "never-resolved"); !errors.Is(err, ErrOffline) {
		t.Errorf("offline Resolve of unknown branch: err = %v, want ErrOffline", err)
	}
	if _, err := off.Download(ctx, Dataset, repo, commit, "nope.json"); !errors.Is(err, ErrOffline) {
		t.Errorf("offline Download of unknown file: err = %v, want ErrOffline", err)
	}
}

func TestNotFound(t *testing.T) {
	f, _, c := setup(t)
	ctx := context.Background()
	commit := f.c0
	tests := []struct {
		name string
		call func() error
		code string
	}{
		{"file", func() error { _, err := c.Download(ctx, Dataset, repo, commit, "missing.json"); return err }, "EntryNotFound"},
		{"revision", func() error { _, err := c.Resolve(ctx, Dataset, repo, "no-such-branch"); return err }, "RevisionNotFound"},
		{"repo", func() error { _, err := c.Resolve(ctx, Dataset, "nobody/nothing", "main"); return err }, "RepoNotFound"},
		{"commit", func() error { _, err := c.Download(ctx, Dataset, repo, commitID(99), "README.md"); return err }, "RevisionNotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
			if !strings.Contains(err.Error(), tt.code) {
				t.Errorf("err = %v, want the hub's code %s in it", err, tt.code)
			}
		})
	}
}

func TestIntegrity(t *testing.T) {
	tests := []struct {
		name  string
		path  string
		setup func(f *fakeHub)
		want  string
	}{
		{"truncated small file", "cross_mmlu/test.json", func(f *fakeHub) { f.truncate["cross_mmlu/test.json"] = true }, ""},
		{"truncated lfs file", "data/train-0.parquet", func(f *fakeHub) { f.truncate["data/train-0.parquet"] = true }, ""},
		{"corrupt small file", "cross_mmlu/test.json", func(f *fakeHub) { f.corrupt["cross_mmlu/test.json"] = true }, "git blob id"},
		{"corrupt lfs file", "data/train-0.parquet", func(f *fakeHub) { f.corrupt["data/train-0.parquet"] = true }, "sha256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, c := setup(t)
			tt.setup(f)
			ctx := context.Background()
			_, err := c.Download(ctx, Dataset, repo, f.c0, tt.path)
			if !errors.Is(err, ErrIntegrity) {
				t.Fatalf("err = %v, want ErrIntegrity", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
			// Nothing was cached: no blob, no pointer, no temp file left over.
			left := 0
			filepathWalk(t, c.CacheDir(), func(p string) {
				if strings.Contains(p, "blobs") || strings.Contains(p, "files") {
					left++
					t.Errorf("left in cache after failed download: %s", p)
				}
			})
			// Once the hub serves good bytes, the download succeeds.
			f.mu.Lock()
			f.truncate = map[string]bool{}
			f.corrupt = map[string]bool{}
			f.mu.Unlock()
			local, err := c.Download(ctx, Dataset, repo, f.c0, tt.path)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(local)
			if string(got) != string(f.files[tt.path]) {
				t.Error("content differs after retry")
			}
		})
	}
}

func TestChangedRevision(t *testing.T) {
	f, _, c := setup(t)
	ctx := context.Background()
	c0, err := c.Resolve(ctx, Dataset, repo, "main")
	if err != nil {
		t.Fatal(err)
	}
	old, err := c.Download(ctx, Dataset, repo, c0, "cross_mmlu/test.json")
	if err != nil {
		t.Fatal(err)
	}
	// Someone pushes to main.
	c1, err := f.srv.Add(hubserver.Repo{Kind: hubserver.Datasets, ID: repo, Files: map[string][]byte{
		"README.md":            []byte("# SeaEval datasets v2\n"),
		"cross_mmlu/test.json": []byte(`[{"id":1,"question":"2+3?"}]`),
	}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Resolve(ctx, Dataset, repo, "main")
	if err != nil {
		t.Fatal(err)
	}
	if got != c1 {
		t.Fatalf("Resolve(main) after push = %s, want %s", got, c1)
	}
	// The pinned old commit still reads its own bytes.
	again, err := c.Download(ctx, Dataset, repo, c0, "cross_mmlu/test.json")
	if err != nil || again != old {
		t.Fatalf("Download(old commit) = %s, %v; want %s", again, err, old)
	}
	newer, err := c.Download(ctx, Dataset, repo, c1, "cross_mmlu/test.json")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(old)
	b, _ := os.ReadFile(newer)
	if string(a) == string(b) {
		t.Error("new commit served the old content")
	}
	files, err := c.ListFiles(ctx, Dataset, repo, c1)
	if err != nil || len(files) != 2 {
		t.Errorf("ListFiles(new) = %v, %v; want 2 files", files, err)
	}
	// A tag still points at the old commit.
	if tag, _ := c.Resolve(ctx, Dataset, repo, "v1.0"); tag != c0 {
		t.Errorf("Resolve(v1.0) = %s, want %s", tag, c0)
	}
}

// A server that answers a different commit than requested (X-Repo-Commit)
// must not have its bytes filed under the requested commit.
func TestCommitMismatch(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Repo-Commit", commitID(7))
		w.Write([]byte("x"))
	}))
	defer srv.Close()
	c := NewClient(WithEndpoint(srv.URL), WithCacheDir(t.TempDir()), WithOffline(false))
	_, err := c.Download(context.Background(), Dataset, repo, commitID(0), "a.json")
	if err == nil || !strings.Contains(err.Error(), "revision changed") {
		t.Fatalf("err = %v, want a changed-revision error", err)
	}
}

func TestTokenAndEnv(t *testing.T) {
	f, srv, _ := setup(t)
	f.token = "hf_secret_ABC123"
	t.Setenv("HF_ENDPOINT", srv.URL)
	t.Setenv("HF_HUB_OFFLINE", "")
	t.Setenv("CROSSIN_CACHE", t.TempDir())
	ctx := context.Background()

	t.Setenv("HF_TOKEN", "")
	t.Setenv("HUGGING_FACE_HUB_TOKEN", "")
	anon := NewClient(WithRetries(0))
	_, err := anon.Resolve(ctx, Dataset, repo, "main")
	if err == nil || !strings.Contains(err.Error(), "set HF_TOKEN") {
		t.Fatalf("anonymous on gated repo: err = %v, want a hint to set HF_TOKEN", err)
	}

	t.Setenv("HF_TOKEN", "wrong_token_XYZ")
	bad := NewClient(WithRetries(0))
	_, err = bad.Resolve(ctx, Dataset, repo, "main")
	if err == nil || strings.Contains(err.Error(), "wrong_token_XYZ") {
		t.Fatalf("bad token: err = %v; want an error that does not contain the token", err)
	}
	if strings.Contains(bad.String(), "wrong_token_XYZ") || strings.Contains(fmt.Sprintf("%v %+v", bad, bad), "wrong_token_XYZ") {
		t.Error("the client's string form leaks the token")
	}

	t.Setenv("HF_TOKEN", "hf_secret_ABC123")
	good := NewClient(WithRetries(0))
	if good.Endpoint() != srv.URL {
		t.Errorf("endpoint = %s, want HF_ENDPOINT %s", good.Endpoint(), srv.URL)
	}
	commit, files, err := good.Fetch(ctx, Dataset, repo, "main", func(p string) bool { return strings.HasSuffix(p, ".json") })
	if err != nil {
		t.Fatal(err)
	}
	if commit != f.c0 || len(files) != 2 {
		t.Errorf("Fetch = %s, %v", commit, files)
	}
	if f.lastAuth != "Bearer hf_secret_ABC123" {
		t.Errorf("Authorization = %q", f.lastAuth)
	}
	// The token is never written to the cache.
	filepathWalk(t, good.CacheDir(), func(p string) {
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), "hf_secret") {
			t.Errorf("token written to %s", p)
		}
	})
}

func TestRetryOn5xx(t *testing.T) {
	f, srv, _ := setup(t)
	f.fail5xx = 2
	c := NewClient(func(c *Client) { c.backoff = time.Millisecond }, WithEndpoint(srv.URL), WithCacheDir(t.TempDir()), WithOffline(false), WithRetries(2))
	if _, err := c.Resolve(context.Background(), Dataset, repo, "main"); err != nil {
		t.Fatalf("Resolve after two 503s: %v", err)
	}
	f.fail5xx = 5
	c = NewClient(func(c *Client) { c.backoff = time.Millisecond }, WithEndpoint(srv.URL), WithCacheDir(t.TempDir()), WithOffline(false), WithRetries(1))
	if _, err := c.Resolve(context.Background(), Dataset, repo, "main"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Resolve with hub down: err = %v, want the 503", err)
	}
}

func TestBadArguments(t *testing.T) {
	c := NewClient(WithCacheDir(t.TempDir()), WithEndpoint("http://127.0.0.1:1"), WithRetries(0))
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		err  error
	}{
		{"bad repo", func() error { _, err := c.Resolve(ctx, Dataset, "../etc", "main"); return err }()},
		{"bad type", func() error { _, err := c.Resolve(ctx, RepoType("thing"), repo, "main"); return err }()},
		{"escaping path", func() error { _, err := c.Download(ctx, Dataset, repo, commitID(0), "../../x"); return err }()},
		{"absolute path", func() error { _, err := c.Download(ctx, Dataset, repo, commitID(0), "/etc/passwd"); return err }()},
		{"branch to Download", func() error { _, err := c.Download(ctx, Dataset, repo, "main", "a.json"); return err }()},
	} {
		if tt.err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
	// A full commit id resolves to itself without the network.
	if got, err := c.Resolve(ctx, Dataset, repo, commitID(3)); err != nil || got != commitID(3) {
		t.Errorf("Resolve(commit) = %s, %v", got, err)
	}
}
