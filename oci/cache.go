package oci

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media types and annotations of remote cache artifacts. A cache entry is an
// OCI image manifest whose artifactType is CacheArtifactType, whose config
// blob is the CacheEntry JSON, and which has one layer per output file
// (stored raw, uncompressed) annotated with its relative path.
const (
	CacheArtifactType    = "application/vnd.crossin.cache.v1"
	CacheConfigMediaType = "application/vnd.crossin.cache.config.v1+json"
	CacheFileMediaType   = "application/vnd.crossin.cache.file.v1"
	AnnotationActionID   = "dev.crossin.action-id"
	AnnotationPath       = "org.opencontainers.image.title"
)

// CacheEntry is the config blob of a cache artifact: which action produced
// the files and what they are. It is also what PullCache returns.
type CacheEntry struct {
	ActionID string            `json:"action_id"`
	Files    []CacheFile       `json:"files"` // sorted by Path
	Meta     map[string]string `json:"meta,omitempty"`
}

// CacheFile is one output file of an entry.
type CacheFile struct {
	Path   string `json:"path"`   // slash-separated, relative to the entry directory
	Digest string `json:"digest"` // sha256:<hex>
	Size   int64  `json:"size"`
	Mode   uint32 `json:"mode"` // permission bits
}

var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// CacheTag is the tag an action's entry is stored under: "action-" plus the
// ActionID when it is a plain hex/word id short enough for a tag, else
// "action-" plus the SHA-256 of the ActionID. The annotation carries the
// exact ActionID either way and pulls check it.
func CacheTag(actionID string) string {
	id := strings.TrimPrefix(actionID, "sha256:")
	if t := "action-" + id; tagRE.MatchString(t) {
		return t
	}
	sum := sha256.Sum256([]byte(actionID))
	return "action-" + hex.EncodeToString(sum[:])
}

// PushCache stores the files under dir as the remote cache entry of
// actionID in repository repo and returns the pinned artifact reference.
// Symlinks and special files are refused: entries hold plain files only.
// A regular file instead of a directory makes an entry of that one file,
// under its base name.
func (c *Client) PushCache(ctx context.Context, repo, actionID, dir string, meta map[string]string) (string, error) {
	if actionID == "" {
		return "", errors.New("cache push: empty action id")
	}
	r, err := c.ParseRepository(repo)
	if err != nil {
		return "", err
	}
	art, err := newCacheArtifact(actionID, dir, meta)
	if err != nil {
		return "", err
	}
	img, err := partial.CompressedToImage(art)
	if err != nil {
		return "", err
	}
	tag := r.Tag(CacheTag(actionID))
	if err := remote.Write(tag, img, c.remoteOptions(ctx)...); err != nil {
		return "", registryError("cache push", tag.String(), err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return r.Digest(d.String()).String(), nil
}

// HasCache reports whether repo holds an entry for actionID.
func (c *Client) HasCache(ctx context.Context, repo, actionID string) (bool, error) {
	r, err := c.ParseRepository(repo)
	if err != nil {
		return false, err
	}
	tag := r.Tag(CacheTag(actionID))
	if _, err := remote.Head(tag, c.remoteOptions(ctx)...); err != nil {
		e := registryError("cache lookup", tag.String(), err)
		if strings.Contains(e.Error(), "not found") {
			return false, nil
		}
		return false, e
	}
	return true, nil
}

// PullCache fetches the entry of actionID from repo into dest, which must
// not exist yet; it appears complete or not at all (the files are written
// into a temporary sibling directory that is renamed at the end). Every
// blob is verified against its digest, and the entry's ActionID and file
// list are checked against the request and the manifest.
func (c *Client) PullCache(ctx context.Context, repo, actionID, dest string) (*CacheEntry, error) {
	r, err := c.ParseRepository(repo)
	if err != nil {
		return nil, err
	}
	return c.pullCache(ctx, r.Tag(CacheTag(actionID)), actionID, dest)
}

// PullCacheRef is PullCache of the entry pinned by ref
// (REGISTRY/REPOSITORY@sha256:...), whatever its action: the entry is the
// one with that manifest digest or none, so a tag moved by another writer
// cannot substitute other files. The caller checks the returned entry's
// ActionID if it expects one.
func (c *Client) PullCacheRef(ctx context.Context, ref, dest string) (*CacheEntry, error) {
	r, err := c.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	if _, ok := r.(name.Digest); !ok {
		return nil, fmt.Errorf("cache pull %s: not pinned by digest (want REGISTRY/REPOSITORY@sha256:...)", ref)
	}
	return c.pullCache(ctx, r, "", dest)
}

// pullCache pulls the entry at tag (a tag or a digest reference); a
// non-empty actionID must be the entry's.
func (c *Client) pullCache(ctx context.Context, tag name.Reference, actionID, dest string) (*CacheEntry, error) {
	img, err := remote.Image(tag, c.remoteOptions(ctx)...)
	if err != nil {
		return nil, registryError("cache pull", tag.String(), err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("cache pull %s: %w", tag, err)
	}
	if m.ArtifactType != CacheArtifactType || m.Config.MediaType != CacheConfigMediaType {
		return nil, fmt.Errorf("cache pull %s: not a crossin cache entry (artifactType %q, config %q)", tag, m.ArtifactType, m.Config.MediaType)
	}
	if actionID == "" {
		actionID = m.Annotations[AnnotationActionID]
	}
	if got := m.Annotations[AnnotationActionID]; got != actionID || got == "" {
		return nil, fmt.Errorf("cache pull %s: entry is for action %q, not %q (tag collision or tampering)", tag, got, actionID)
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("cache pull %s: config: %w", tag, err)
	}
	if d := sha256Digest(raw); d != m.Config.Digest.String() {
		return nil, fmt.Errorf("cache pull %s: config digest %s, manifest says %s", tag, d, m.Config.Digest)
	}
	var entry CacheEntry
	if err := json.Unmarshal(raw, &entry); err != nil {
		return nil, fmt.Errorf("cache pull %s: config: %w", tag, err)
	}
	if entry.ActionID != actionID {
		return nil, fmt.Errorf("cache pull %s: config is for action %q, not %q", tag, entry.ActionID, actionID)
	}
	if len(entry.Files) != len(m.Layers) {
		return nil, fmt.Errorf("cache pull %s: config lists %d files, manifest %d layers", tag, len(entry.Files), len(m.Layers))
	}
	if _, err := os.Lstat(dest); err == nil {
		return nil, fmt.Errorf("cache pull: %s already exists", dest)
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".pull*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	for i, f := range entry.Files {
		l := m.Layers[i]
		if l.Digest.String() != f.Digest || l.Annotations[AnnotationPath] != f.Path || l.Size != f.Size {
			return nil, fmt.Errorf("cache pull %s: file %d (%s) disagrees between config and manifest", tag, i, f.Path)
		}
		if !validRel(f.Path) {
			return nil, fmt.Errorf("cache pull %s: unsafe path %q in entry", tag, f.Path)
		}
		layer, err := img.LayerByDigest(l.Digest)
		if err != nil {
			return nil, fmt.Errorf("cache pull %s: %s: %w", tag, f.Path, err)
		}
		if err := pullFile(ctx, layer, filepath.Join(tmp, filepath.FromSlash(f.Path)), f); err != nil {
			return nil, fmt.Errorf("cache pull %s: %s: %w", tag, f.Path, err)
		}
	}
	if err := os.Rename(tmp, dest); err != nil {
		return nil, err
	}
	return &entry, nil
}

func pullFile(ctx context.Context, layer v1.Layer, dst string, f CacheFile) error {
	rc, err := layer.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, os.FileMode(f.Mode&0o777)|0o200)
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), ctxReader{ctx, rc})
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != f.Digest || n != f.Size {
		return fmt.Errorf("content is %s (%d bytes), want %s (%d bytes): corrupt blob", got, n, f.Digest, f.Size)
	}
	return os.Chmod(dst, os.FileMode(f.Mode&0o777))
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func validRel(p string) bool {
	return p != "" && !path.IsAbs(p) && path.Clean(p) == p && p != ".." && !strings.HasPrefix(p, "../")
}

func sha256Digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// cacheArtifact implements partial.CompressedImageCore over files on disk,
// so large adapters are streamed, not held in memory.
type cacheArtifact struct {
	dir      string
	config   []byte
	manifest []byte
	layers   map[v1.Hash]fileLayer
}

type fileLayer struct {
	path   string
	digest v1.Hash
	size   int64
}

func (l fileLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l fileLayer) Compressed() (io.ReadCloser, error)  { return os.Open(l.path) }
func (l fileLayer) Size() (int64, error)                { return l.size, nil }
func (l fileLayer) MediaType() (types.MediaType, error) { return CacheFileMediaType, nil }

func newCacheArtifact(actionID, dir string, meta map[string]string) (*cacheArtifact, error) {
	entry := CacheEntry{ActionID: actionID, Meta: meta}
	layers := map[v1.Hash]fileLayer{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("cache push: %s is not a regular file", p)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel == "." { // dir is a file
			rel = filepath.Base(p)
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		h := sha256.New()
		n, err := io.Copy(h, f)
		f.Close()
		if err != nil {
			return err
		}
		dg := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
		entry.Files = append(entry.Files, CacheFile{Path: filepath.ToSlash(rel), Digest: dg.String(), Size: n, Mode: uint32(info.Mode().Perm())})
		layers[dg] = fileLayer{path: p, digest: dg, size: n}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cache push %s: %w", dir, err)
	}
	if len(entry.Files) == 0 {
		return nil, fmt.Errorf("cache push: %s holds no files", dir)
	}
	sort.Slice(entry.Files, func(i, j int) bool { return entry.Files[i].Path < entry.Files[j].Path })
	cfg, err := json.Marshal(entry)
	if err != nil {
		return nil, err
	}
	cfgHash, cfgSize, err := v1.SHA256(bytes.NewReader(cfg))
	if err != nil {
		return nil, err
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  CacheArtifactType,
		Config:        v1.Descriptor{MediaType: CacheConfigMediaType, Digest: cfgHash, Size: cfgSize},
		Annotations:   map[string]string{AnnotationActionID: actionID},
	}
	for _, f := range entry.Files {
		h, _ := v1.NewHash(f.Digest)
		m.Layers = append(m.Layers, v1.Descriptor{
			MediaType:   CacheFileMediaType,
			Digest:      h,
			Size:        f.Size,
			Annotations: map[string]string{AnnotationPath: f.Path},
		})
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return &cacheArtifact{dir: dir, config: cfg, manifest: raw, layers: layers}, nil
}

func (a *cacheArtifact) RawConfigFile() ([]byte, error)      { return a.config, nil }
func (a *cacheArtifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (a *cacheArtifact) RawManifest() ([]byte, error)        { return a.manifest, nil }
func (a *cacheArtifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if l, ok := a.layers[h]; ok {
		return l, nil
	}
	return nil, fmt.Errorf("cache artifact: no blob %s", h)
}

// ListCache returns the action ids that repo holds entries for (from its
// "action-<id>" tags; ids that were too long for a tag are not listed).
func (c *Client) ListCache(ctx context.Context, repo string) ([]string, error) {
	r, err := c.ParseRepository(repo)
	if err != nil {
		return nil, err
	}
	tags, err := remote.List(r, c.remoteOptions(ctx)...)
	if err != nil {
		if strings.Contains(registryError("cache list", repo, err).Error(), "not found") {
			return nil, nil // no entry pushed yet
		}
		return nil, registryError("cache list", repo, err)
	}
	var ids []string
	for _, t := range tags {
		if id, ok := strings.CutPrefix(t, "action-"); ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}
