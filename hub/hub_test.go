package hub

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
)

// fakeHub speaks the subset of the Hugging Face hub API the client uses:
// GET /api/{type}s/{repo}/revision/{rev} and
// GET /{prefix}{repo}/resolve/{commit}/{path}, with LFS files answered by a
// redirect to a "CDN" path (as the real hub does) and small files directly.
type fakeHub struct {
	mu       sync.Mutex
	refs     map[string]string            // revision -> commit
	commits  map[string]map[string][]byte // commit -> path -> content
	lfs      map[string]bool              // paths stored in LFS
	truncate map[string]bool              // paths whose body is cut short
	corrupt  map[string]bool              // paths whose body differs from the announced hash
	token    string                       // required bearer token ("" = public)
	hits     map[string]int               // request path -> count
	lastAuth string
	fail5xx  int // number of 503 answers before a success
}

const repo = "SeaEval/SeaEval_datasets"

func newFakeHub() *fakeHub {
	return &fakeHub{
		refs:     map[string]string{},
		commits:  map[string]map[string][]byte{},
		lfs:      map[string]bool{},
		truncate: map[string]bool{},
		corrupt:  map[string]bool{},
		hits:     map[string]int{},
	}
}

func commitID(n int) string { return fmt.Sprintf("%040x", n+0xabc) }

func gitBlobID(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

func (f *fakeHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hits[r.URL.Path]++
	f.lastAuth = r.Header.Get("Authorization")
	if f.token != "" && r.Header.Get("Authorization") != "Bearer "+f.token {
		w.Header().Set("X-Error-Code", "GatedRepo")
		http.Error(w, `{"error":"Access to this repo is restricted"}`, http.StatusUnauthorized)
		return
	}
	if f.fail5xx > 0 {
		f.fail5xx--
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	p := r.URL.EscapedPath()
	switch {
	case strings.HasPrefix(p, "/api/datasets/"+repo+"/revision/"):
		rev, _ := unescape(strings.TrimPrefix(p, "/api/datasets/"+repo+"/revision/"))
		commit, ok := f.refs[rev]
		if !ok {
			if _, isCommit := f.commits[rev]; isCommit {
				commit = rev
			} else {
				w.Header().Set("X-Error-Code", "RevisionNotFound")
				http.Error(w, `{"error":"Invalid rev id: `+rev+`"}`, http.StatusNotFound)
				return
			}
		}
		type sib struct {
			RFilename string `json:"rfilename"`
		}
		var sibs []sib
		for _, name := range sortedKeys(f.commits[commit]) {
			sibs = append(sibs, sib{name})
		}
		json.NewEncoder(w).Encode(map[string]any{"id": repo, "sha": commit, "siblings": sibs})
	case strings.HasPrefix(p, "/datasets/"+repo+"/resolve/"):
		rest := strings.TrimPrefix(p, "/datasets/"+repo+"/resolve/")
		commit, path, _ := strings.Cut(rest, "/")
		files, ok := f.commits[commit]
		if !ok {
			w.Header().Set("X-Error-Code", "RevisionNotFound")
			http.Error(w, "Revision Not Found", http.StatusNotFound)
			return
		}
		path, _ = unescape(path)
		data, ok := files[path]
		if !ok {
			w.Header().Set("X-Error-Code", "EntryNotFound")
			http.Error(w, "Entry not found", http.StatusNotFound)
			return
		}
		w.Header().Set("X-Repo-Commit", commit)
		if f.lfs[path] {
			sum := sha256.Sum256(data)
			w.Header().Set("X-Linked-Etag", `"`+hex.EncodeToString(sum[:])+`"`)
			w.Header().Set("X-Linked-Size", strconv.Itoa(len(data)))
			w.Header().Set("Location", "/cdn/"+commit+"/"+path)
			w.WriteHeader(http.StatusFound)
			return
		}
		w.Header().Set("ETag", `"`+gitBlobID(data)+`"`)
		f.serve(w, path, data)
	case strings.HasPrefix(p, "/cdn/"):
		commit, path, _ := strings.Cut(strings.TrimPrefix(p, "/cdn/"), "/")
		path, _ = unescape(path)
		f.serve(w, path, f.commits[commit][path])
	default:
		w.Header().Set("X-Error-Code", "RepoNotFound")
		http.Error(w, "Repository not found", http.StatusNotFound)
	}
}

func (f *fakeHub) serve(w http.ResponseWriter, path string, data []byte) {
	if f.corrupt[path] {
		data = append([]byte(nil), data...)
		data[0] ^= 1
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	if f.truncate[path] {
		w.Write(data[:len(data)/2]) // the server closes the connection early
		return
	}
	w.Write(data)
}

func unescape(s string) (string, error) {
	return urlPathUnescape(s)
}

func sortedKeys(m map[string][]byte) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}

func setup(t *testing.T) (*fakeHub, *httptest.Server, *Client) {
	t.Helper()
	f := newFakeHub()
	c0 := commitID(0)
	f.commits[c0] = map[string][]byte{
		"README.md":               []byte("# SeaEval datasets\n"),
		"cross_mmlu/test.json":    []byte(`[{"id":1,"question":"2+2?"}]`),
		"data/train-0.parquet":    []byte(strings.Repeat("PAR1", 1000)),
		"dir with space/a b.json": []byte(`{"ok":true}`),
	}
	f.lfs["data/train-0.parquet"] = true
	f.refs["main"] = c0
	f.refs["v1.0"] = c0
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
	if commit != commitID(0) {
		t.Fatalf("Resolve(main) = %s, want %s", commit, commitID(0))
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
		want := f.commits[commit][fl.Path]
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
	_, _, c := setup(t)
	ctx := context.Background()
	commit := commitID(0)
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
			_, err := c.Download(ctx, Dataset, repo, commitID(0), tt.path)
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
			local, err := c.Download(ctx, Dataset, repo, commitID(0), tt.path)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(local)
			if string(got) != string(f.commits[commitID(0)][tt.path]) {
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
	c1 := commitID(1)
	f.mu.Lock()
	f.commits[c1] = map[string][]byte{
		"README.md":            []byte("# SeaEval datasets v2\n"),
		"cross_mmlu/test.json": []byte(`[{"id":1,"question":"2+3?"}]`),
	}
	f.refs["main"] = c1
	f.mu.Unlock()
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
	if commit != commitID(0) || len(files) != 2 {
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
