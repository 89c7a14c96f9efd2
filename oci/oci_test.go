package oci

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

var update = flag.Bool("update", false, "rewrite golden files")

// newRegistry starts an in-memory registry on 127.0.0.1 (plain HTTP is
// allowed for loopback) and returns its host:port.
func newRegistry(t *testing.T, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

func testClient() *Client { return NewClient(WithKeychain(authn.NewMultiKeychain())) }

func pushRandom(t *testing.T, ref string) v1.Hash {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return d
}

func TestPlainHTTP(t *testing.T) {
	c := NewClient(WithInsecure("registry.lab:5000"))
	for _, tc := range []struct {
		reg  string
		want bool
	}{
		{"localhost:5000", true},
		{"localhost", true},
		{"127.0.0.1:5000", true},
		{"127.8.0.1:5000", true},
		{"[::1]:5000", true},
		{"registry.lab:5000", true},
		{"registry.lab", false},
		{"ghcr.io", false},
		{"10.0.0.1:5000", false},
		{"localhost.evil.com", false},
	} {
		if got := c.plainHTTP(tc.reg); got != tc.want {
			t.Errorf("plainHTTP(%q) = %v, want %v", tc.reg, got, tc.want)
		}
	}
}

func TestLockParseErrors(t *testing.T) {
	d := "sha256:" + strings.Repeat("a", 64)
	for _, tc := range []struct {
		name, in, want string
	}{
		{"ok", "# c\n\nimage a/b:1 r/a/b@" + d + "\nhub model o/m main " + strings.Repeat("0", 40) + "\n", ""},
		{"short digest", "image a/b:1 r/a/b@sha256:abc\n", "crossin.lock:1: image a/b:1: pinned reference"},
		{"bad commit", "\nhub model o/m main xyz\n", "crossin.lock:2: hub o/m: commit"},
		{"dup", "image x:1 r/x@" + d + "\nimage x:1 r/x@" + d + "\n", "crossin.lock:2: image x:1 is listed twice"},
		{"garbage", "imagex\n", "crossin.lock:1: cannot parse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseLock([]byte(tc.in), "crossin.lock")
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLockRoundTripAndCheck(t *testing.T) {
	l := NewLock()
	d := "sha256:" + strings.Repeat("b", 64)
	if err := l.SetImage("z/img:v1", "reg/z/img@"+d); err != nil {
		t.Fatal(err)
	}
	if err := l.SetImage("a/img:v2", "reg/a/img@"+d); err != nil {
		t.Fatal(err)
	}
	h := HubRef{Type: "model", Repo: "o/m", Revision: "main"}
	if err := l.SetHub(h, strings.Repeat("c", 40)); err != nil {
		t.Fatal(err)
	}
	if err := l.SetImage("x", "not-pinned"); err == nil {
		t.Fatal("SetImage accepted an unpinned reference")
	}
	p := filepath.Join(t.TempDir(), LockFile)
	if err := l.Write(p); err != nil {
		t.Fatal(err)
	}
	back, err := ReadLock(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Bytes(), l.Bytes()) {
		t.Fatalf("round trip changed the lock:\n%s\nvs\n%s", back.Bytes(), l.Bytes())
	}
	if i := bytes.Index(l.Bytes(), []byte("a/img")); i < 0 || i > bytes.Index(l.Bytes(), []byte("z/img")) {
		t.Fatal("images are not sorted")
	}
	if err := l.Check(Requirements{Images: []string{"a/img:v2"}, Hub: []HubRef{h}}); err != nil {
		t.Fatal(err)
	}
	err = l.Check(Requirements{Images: []string{"a/img:v3", "a/img:v2"}, Hub: []HubRef{{Type: "model", Repo: "o/m", Revision: "dev"}}})
	if err == nil || !strings.Contains(err.Error(), "image a/img:v3") || !strings.Contains(err.Error(), "hub model o/m@dev") {
		t.Fatalf("Check err = %v", err)
	}
	if _, err := ReadLock(filepath.Join(t.TempDir(), "nope")); err == nil || !strings.Contains(err.Error(), "crossin lock") {
		t.Fatalf("missing lock err = %v", err)
	}
}

// TestMovedTag: planning keeps using the locked digest after the tag moves;
// only Relock (crossin lock) picks up the new digest.
func TestMovedTag(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t, nil)
	c := testClient()
	ref := reg + "/team/trainer:v1"
	d1 := pushRandom(t, ref)
	l := NewLock()
	p1, err := c.PinImage(ctx, l, ref, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := reg + "/team/trainer@" + d1.String(); p1 != want {
		t.Fatalf("pinned %s, want %s", p1, want)
	}
	d2 := pushRandom(t, ref) // the tag moves
	if d1 == d2 {
		t.Fatal("random images collided")
	}
	p2, err := c.PinImage(ctx, l, ref, true)
	if err != nil {
		t.Fatal(err)
	}
	if p2 != p1 {
		t.Fatalf("a moved tag changed the pin without relock: %s -> %s", p1, p2)
	}
	ch, err := c.Relock(ctx, l, Requirements{Images: []string{ref}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch) != 1 || ch[0].Old != p1 || !strings.HasSuffix(ch[0].New, d2.String()) {
		t.Fatalf("changes = %+v", ch)
	}
	p3, _ := c.PinImage(ctx, l, ref, true)
	if !strings.HasSuffix(p3, d2.String()) {
		t.Fatalf("after relock pin = %s", p3)
	}
	if _, err := c.PinImage(ctx, l, reg+"/team/other:v1", true); err == nil || !strings.Contains(err.Error(), "--locked") {
		t.Fatalf("--locked with unpinned ref: %v", err)
	}
}

func TestResolveErrors(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t, nil)
	c := testClient()
	for _, tc := range []struct{ ref, want string }{
		{reg + "/no/such:tag", "image not found"},
		{reg + "/no/such@sha256:" + strings.Repeat("0", 64), "image not found"},
		{"127.0.0.1:1/x/y:z", "registry unreachable"},
		{"UPPER/Case:x", "want REGISTRY/REPOSITORY:TAG"},
	} {
		_, err := c.Resolve(ctx, tc.ref)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Resolve(%s) err = %v, want %q", tc.ref, err, tc.want)
		}
	}
	// a locked digest keys the plan without the registry; Preflight
	// catches that it vanished before any work
	l := NewLock()
	gone := reg + "/gone@sha256:" + strings.Repeat("1", 64)
	l.SetImage("gone:1", gone)
	if p, err := c.PinImage(ctx, l, "gone:1", true); err != nil || p != gone {
		t.Errorf("PinImage(locked pin) = %s, %v", p, err)
	}
	if err := c.Preflight(ctx, gone); err == nil || !strings.Contains(err.Error(), "image not found") {
		t.Errorf("vanished image: %v", err)
	}
}

func fakeBinaries(t *testing.T, content string) []Binary {
	dir := t.TempDir()
	var bins []Binary
	for _, p := range DefaultPlatforms {
		f := filepath.Join(dir, p.Architecture)
		if err := os.WriteFile(f, []byte(content+" "+p.Architecture), 0o755); err != nil {
			t.Fatal(err)
		}
		bins = append(bins, Binary{Platform: p, Path: f})
	}
	return bins
}

// TestBuildReproducible: the same binaries give the same index digest
// (pinned by a golden file), other bytes give another digest.
func TestBuildReproducible(t *testing.T) {
	digest := func(content string) string {
		idx, err := BuildIndex(fakeBinaries(t, content))
		if err != nil {
			t.Fatal(err)
		}
		d, err := idx.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d.String()
	}
	a, b, c := digest("crossin-binary"), digest("crossin-binary"), digest("crossin-binary2")
	if a != b {
		t.Fatalf("same binaries, different digests: %s %s", a, b)
	}
	if a == c {
		t.Fatal("different binaries, same digest")
	}
	golden := filepath.Join("testdata", "build_digest.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(a+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if strings.TrimSpace(string(want)) != a {
		t.Fatalf("index digest %s, golden %s", a, want)
	}
	idx, _ := BuildIndex(fakeBinaries(t, "x"))
	im, _ := idx.IndexManifest()
	if len(im.Manifests) != 2 || im.Manifests[0].Platform.Architecture != "amd64" || im.Manifests[1].Platform.Architecture != "arm64" {
		t.Fatalf("manifests = %+v", im.Manifests)
	}
	img, _ := idx.Image(im.Manifests[1].Digest)
	cf, _ := img.ConfigFile()
	if cf.Architecture != "arm64" || cf.OS != "linux" || cf.Config.Entrypoint[0] != ImageBinary || !cf.Created.Time.Equal(epoch) {
		t.Fatalf("config = %+v", cf)
	}
	if _, err := BuildIndex(nil); err == nil {
		t.Fatal("BuildIndex(nil) succeeded")
	}
}

func TestPushAndLayout(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t, nil)
	c := testClient()
	idx, err := BuildIndex(fakeBinaries(t, "bin"))
	if err != nil {
		t.Fatal(err)
	}
	pinned, err := c.PushIndex(ctx, reg+"/crossin/trainer:dev", idx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Resolve(ctx, reg+"/crossin/trainer:dev")
	if err != nil || got != pinned {
		t.Fatalf("resolve = %s, %v; want %s", got, err, pinned)
	}
	dir := filepath.Join(t.TempDir(), "layout")
	d1, err := WriteLayout(dir, idx, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WriteLayout(dir, idx, "dev"); err != nil { // replace, not duplicate
		t.Fatal(err)
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := p.ImageIndex()
	im, _ := root.IndexManifest()
	if len(im.Manifests) != 1 || im.Manifests[0].Digest != d1 || im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "dev" {
		t.Fatalf("layout index = %+v", im.Manifests)
	}
}

func TestCacheRoundTrip(t *testing.T) {
	ctx := context.Background()
	var corrupt bool
	reg := newRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if corrupt && r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				body := rec.Body.Bytes()
				if len(body) > 0 && !bytes.HasPrefix(body, []byte("{")) {
					body[0] ^= 0xff
				}
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.Code)
				w.Write(body)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	c := testClient()
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "adapter"), 0o755)
	os.WriteFile(filepath.Join(src, "adapter", "adapter_model.safetensors"), bytes.Repeat([]byte{1, 2, 3}, 1000), 0o644)
	os.WriteFile(filepath.Join(src, "manifest.json"), []byte(`{"contract":"crossin.trainer/v1"}`), 0o644)
	os.WriteFile(filepath.Join(src, "loss.json"), []byte(`{"steps":[]}`), 0o600)
	id := strings.Repeat("ab", 32)
	repo := reg + "/team/cache"
	if ok, err := c.HasCache(ctx, repo, id); err != nil || ok {
		t.Fatalf("HasCache before push = %v, %v", ok, err)
	}
	pinned, err := c.PushCache(ctx, repo, id, src, map[string]string{"stage": "train"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(pinned, "@sha256:") {
		t.Fatalf("pinned = %s", pinned)
	}
	if ok, err := c.HasCache(ctx, repo, id); err != nil || !ok {
		t.Fatalf("HasCache after push = %v, %v", ok, err)
	}
	dst := filepath.Join(t.TempDir(), "entry")
	e, err := c.PullCache(ctx, repo, id, dst)
	if err != nil {
		t.Fatal(err)
	}
	if e.ActionID != id || len(e.Files) != 3 || e.Meta["stage"] != "train" {
		t.Fatalf("entry = %+v", e)
	}
	for _, f := range []string{"adapter/adapter_model.safetensors", "manifest.json", "loss.json"} {
		a, _ := os.ReadFile(filepath.Join(src, f))
		b, err := os.ReadFile(filepath.Join(dst, f))
		if err != nil || !bytes.Equal(a, b) {
			t.Fatalf("%s differs after round trip (%v)", f, err)
		}
	}
	if st, _ := os.Stat(filepath.Join(dst, "loss.json")); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v", st.Mode())
	}
	// by the pinned reference: the same entry; a tag is refused
	byRef := filepath.Join(t.TempDir(), "entry")
	if e, err := c.PullCacheRef(ctx, pinned, byRef); err != nil || e.ActionID != id || len(e.Files) != 3 {
		t.Fatalf("PullCacheRef(%s) = %+v, %v", pinned, e, err)
	}
	if _, err := c.PullCacheRef(ctx, repo+":"+CacheTag(id), filepath.Join(t.TempDir(), "x")); err == nil || !strings.Contains(err.Error(), "not pinned by digest") {
		t.Fatalf("PullCacheRef of a tag: %v", err)
	}
	// a single file is an entry of that file under its base name
	one, err := c.PushCache(ctx, repo, "one-file", filepath.Join(src, "loss.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	oneDst := filepath.Join(t.TempDir(), "one")
	if e, err := c.PullCacheRef(ctx, one, oneDst); err != nil || len(e.Files) != 1 || e.Files[0].Path != "loss.json" || e.ActionID != "one-file" {
		t.Fatalf("single-file entry: %+v, %v", e, err)
	}
	if b, err := os.ReadFile(filepath.Join(oneDst, "loss.json")); err != nil || string(b) != `{"steps":[]}` {
		t.Fatalf("single-file entry pulled %q, %v", b, err)
	}
	if _, err := c.PullCache(ctx, repo, id, dst); err == nil {
		t.Fatal("pull into an existing directory succeeded")
	}
	if _, err := c.PullCache(ctx, repo, strings.Repeat("cd", 32), filepath.Join(t.TempDir(), "x")); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("pull of a missing entry: %v", err)
	}
	corrupt = true
	dst2 := filepath.Join(t.TempDir(), "entry")
	if _, err := c.PullCache(ctx, repo, id, dst2); err == nil {
		t.Fatal("pull of a corrupted blob succeeded")
	}
	if _, err := os.Stat(dst2); err == nil {
		t.Fatal("a failed pull left the destination behind")
	}
}
