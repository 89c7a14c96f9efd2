// Package hub is a small Hugging Face hub client: it resolves a revision
// (branch, tag or commit) of a model or dataset repository to a commit,
// lists the files of that commit and downloads them into a content-addressed
// cache, so that an experiment pinned to a commit reads the same bytes
// offline forever after.
//
// Layout of the cache directory (all writes atomic: temp file + rename):
//
//	blobs/sha256/<hex>                         file contents, named by their sha256
//	files/<type>s/<owner>/<name>/<commit>/<path>.json   {"sha256","size","etag"} pointer to a blob
//	trees/<type>s/<owner>/<name>/<commit>.json          file listing of a commit
//	refs/<type>s/<owner>/<name>/<revision>              last commit a revision resolved to (for offline use)
//
// Files under a commit never change on the hub, so a pointer, once written, is
// trusted; a branch may move, so a revision is only read from refs/ in offline
// mode. The token (HF_TOKEN) is sent as a bearer header and never appears in
// errors, logs or cache files.
package hub

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/crossin-lab/crossin/atomicfile"
	"github.com/crossin-lab/crossin/internal/cachedir"
)

// RepoType is the kind of hub repository.
type RepoType string

// Repository kinds, spelled as the hub API spells them in the singular.
const (
	Model   RepoType = "model"
	Dataset RepoType = "dataset"
	Space   RepoType = "space"
)

// DefaultEndpoint is used when neither WithEndpoint nor HF_ENDPOINT is set.
const DefaultEndpoint = "https://huggingface.co"

// ErrNotFound is wrapped by errors for a repository, revision or file the hub
// does not have (HTTP 404), so callers can test with errors.Is.
var ErrNotFound = errors.New("not found on the hub")

// ErrOffline is wrapped when offline mode needs something that is not cached.
var ErrOffline = errors.New("not in the local hub cache (offline mode)")

// ErrIntegrity is wrapped when a download is truncated or its content does
// not match the hash the hub announced.
var ErrIntegrity = errors.New("download failed integrity check")

// Client talks to one hub endpoint and owns one cache directory. It is safe
// for concurrent use; concurrent downloads of the same file are idempotent
// because blobs are written under their content hash with an atomic rename.
type Client struct {
	endpoint  string
	token     string
	cacheDir  string
	http      *http.Client
	offline   bool
	retries   int
	backoff   time.Duration
	userAgent string
	cacheErr  error
}

// Option configures a Client.
type Option func(*Client)

// WithEndpoint sets the hub base URL (default: $HF_ENDPOINT, else huggingface.co).
func WithEndpoint(u string) Option {
	return func(c *Client) { c.endpoint = strings.TrimRight(u, "/") }
}

// WithToken sets the access token (default: $HF_TOKEN, else $HUGGING_FACE_HUB_TOKEN).
// An empty token sends no Authorization header.
func WithToken(t string) Option { return func(c *Client) { c.token = t } }

// WithCacheDir sets the cache directory (default: $CROSSIN_CACHE/hub, else the
// user cache directory's crossin/hub).
func WithCacheDir(dir string) Option {
	return func(c *Client) { c.cacheDir = dir; c.cacheErr = nil }
}

// WithOffline makes the client use only its cache (default: $HF_HUB_OFFLINE=1).
func WithOffline(off bool) Option { return func(c *Client) { c.offline = off } }

// WithRetries sets how many times a request that failed with a network error,
// HTTP 429 or 5xx is retried (default 2).
func WithRetries(n int) Option { return func(c *Client) { c.retries = n } }

// NewClient returns a client configured from the environment and opts.
func NewClient(opts ...Option) *Client {
	c := &Client{
		endpoint:  strings.TrimRight(os.Getenv("HF_ENDPOINT"), "/"),
		token:     os.Getenv("HF_TOKEN"),
		offline:   envTrue(os.Getenv("HF_HUB_OFFLINE")),
		retries:   2,
		backoff:   500 * time.Millisecond,
		userAgent: "crossin-hub/1",
	}
	if c.endpoint == "" {
		c.endpoint = DefaultEndpoint
	}
	if c.token == "" {
		c.token = os.Getenv("HUGGING_FACE_HUB_TOKEN")
	}
	if d, err := cachedir.Dir(); err == nil {
		c.cacheDir = filepath.Join(d, "hub")
	} else {
		c.cacheErr = fmt.Errorf("hub: %v, or use WithCacheDir", err)
	}
	for _, o := range opts {
		o(c)
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: 30 * time.Minute}
	}
	return c
}

func envTrue(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// Endpoint returns the hub base URL in use.
func (c *Client) Endpoint() string { return c.endpoint }

// CacheDir returns the cache directory in use.
func (c *Client) CacheDir() string { return c.cacheDir }

// String describes the client without its token.
func (c *Client) String() string {
	auth := "anonymous"
	if c.token != "" {
		auth = "token set"
	}
	return fmt.Sprintf("hub.Client{endpoint: %s, cache: %s, %s}", c.endpoint, c.cacheDir, auth)
}

// File is one entry of a commit's file listing.
type File struct {
	Path string `json:"path"`
	// Size is the byte size when the hub reports it (0 otherwise).
	Size int64 `json:"size,omitempty"`
	// BlobID is the git blob id when the hub reports it.
	BlobID string `json:"blob_id,omitempty"`
	// SHA256 is the LFS object id for LFS files when the hub reports it.
	SHA256 string `json:"sha256,omitempty"`
}

var (
	commitRe  = regexp.MustCompile(`^[0-9a-f]{40}$`)
	repoRe    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$`)
	sha256Re  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	gitBlobRe = commitRe
)

// IsCommit reports whether rev is a full 40-hex commit id.
func IsCommit(rev string) bool { return commitRe.MatchString(rev) }

func checkRepo(t RepoType, repo string) error {
	switch t {
	case Model, Dataset, Space:
	default:
		return fmt.Errorf("hub: unknown repository type %q (want model, dataset or space)", t)
	}
	if !repoRe.MatchString(repo) || strings.Contains(repo, "..") {
		return fmt.Errorf("hub: bad repository id %q (want owner/name)", repo)
	}
	return nil
}

func checkPath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || strings.ContainsRune(p, 0) {
		return fmt.Errorf("hub: bad file path %q (want a relative path inside the repository)", p)
	}
	for _, el := range strings.Split(p, "/") {
		if el == "" || el == "." || el == ".." {
			return fmt.Errorf("hub: bad file path %q (want a relative path inside the repository)", p)
		}
	}
	return nil
}

// apiPlural is the path element the REST API uses ("/api/datasets/...").
func apiPlural(t RepoType) string { return string(t) + "s" }

// urlPrefix is what precedes the repo id in resolve URLs (models have none).
func urlPrefix(t RepoType) string {
	if t == Model {
		return ""
	}
	return string(t) + "s/"
}

func escapeRepo(repo string) string {
	parts := strings.Split(repo, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

func (c *Client) dir(kind string, t RepoType, repo string) string {
	return filepath.Join(c.cacheDir, kind, apiPlural(t), filepath.FromSlash(repo))
}

// revisionInfo is the subset of GET /api/{type}s/{repo}/revision/{rev} we use.
type revisionInfo struct {
	SHA      string `json:"sha"`
	Siblings []struct {
		RFilename string `json:"rfilename"`
		Size      int64  `json:"size"`
		BlobID    string `json:"blobId"`
		LFS       *struct {
			SHA256 string `json:"sha256"`
			Size   int64  `json:"size"`
		} `json:"lfs"`
	} `json:"siblings"`
}

// Resolve returns the commit that revision (a branch, tag or commit) of repo
// points to now. A full commit id is returned as is without asking the hub,
// so pinned specs work offline. In offline mode a branch or tag is answered
// from the last successful resolution, if any.
func (c *Client) Resolve(ctx context.Context, t RepoType, repo, revision string) (string, error) {
	if err := checkRepo(t, repo); err != nil {
		return "", err
	}
	if revision == "" {
		revision = "main"
	}
	if IsCommit(revision) {
		return revision, nil
	}
	if err := c.cacheOK(); err != nil {
		return "", err
	}
	refFile := filepath.Join(c.dir("refs", t, repo), url.PathEscape(revision))
	if c.offline {
		b, err := os.ReadFile(refFile)
		if err != nil {
			return "", fmt.Errorf("hub: resolve %s %s@%s: %w", t, repo, revision, ErrOffline)
		}
		commit := strings.TrimSpace(string(b))
		if !IsCommit(commit) {
			return "", fmt.Errorf("hub: corrupt ref file %s: %q is not a commit id", refFile, commit)
		}
		return commit, nil
	}
	info, err := c.revision(ctx, t, repo, revision)
	if err != nil {
		return "", err
	}
	if err := atomicfile.WriteAll(refFile, []byte(info.SHA+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("hub: record ref: %w", err)
	}
	if err := c.storeTree(t, repo, info); err != nil {
		return "", err
	}
	return info.SHA, nil
}

func (c *Client) revision(ctx context.Context, t RepoType, repo, revision string) (*revisionInfo, error) {
	u := fmt.Sprintf("%s/api/%s/%s/revision/%s", c.endpoint, apiPlural(t), escapeRepo(repo), url.PathEscape(revision))
	what := fmt.Sprintf("%s %s@%s", t, repo, revision)
	resp, err := c.get(ctx, u, what, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var info revisionInfo
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(&info); err != nil {
		return nil, fmt.Errorf("hub: resolve %s: bad JSON from %s: %v", what, redactURL(u), err)
	}
	if !IsCommit(info.SHA) {
		return nil, fmt.Errorf("hub: resolve %s: the hub answered sha %q, not a 40-hex commit id", what, info.SHA)
	}
	return &info, nil
}

func (c *Client) storeTree(t RepoType, repo string, info *revisionInfo) error {
	files := make([]File, 0, len(info.Siblings))
	for _, s := range info.Siblings {
		f := File{Path: s.RFilename, Size: s.Size, BlobID: s.BlobID}
		if s.LFS != nil {
			f.SHA256 = s.LFS.SHA256
			if f.Size == 0 {
				f.Size = s.LFS.Size
			}
		}
		files = append(files, f)
	}
	b, err := json.MarshalIndent(files, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteAll(filepath.Join(c.dir("trees", t, repo), info.SHA+".json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("hub: record file list: %w", err)
	}
	return nil
}

// ListFiles returns the files of repo at commit (a commit id, or a branch or
// tag that is resolved first), in the hub's order. Listings of a commit are
// cached, so this works offline for a commit that was listed before.
func (c *Client) ListFiles(ctx context.Context, t RepoType, repo, commit string) ([]File, error) {
	if err := checkRepo(t, repo); err != nil {
		return nil, err
	}
	if err := c.cacheOK(); err != nil {
		return nil, err
	}
	if !IsCommit(commit) {
		var err error
		if commit, err = c.Resolve(ctx, t, repo, commit); err != nil {
			return nil, err
		}
	}
	treeFile := filepath.Join(c.dir("trees", t, repo), commit+".json")
	if b, err := os.ReadFile(treeFile); err == nil {
		var files []File
		if err := json.Unmarshal(b, &files); err == nil {
			return files, nil
		}
	}
	if c.offline {
		return nil, fmt.Errorf("hub: list %s %s@%s: %w", t, repo, commit, ErrOffline)
	}
	info, err := c.revision(ctx, t, repo, commit)
	if err != nil {
		return nil, err
	}
	if info.SHA != commit {
		return nil, fmt.Errorf("hub: list %s %s@%s: the hub answered commit %s", t, repo, commit, info.SHA)
	}
	if err := c.storeTree(t, repo, info); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(treeFile)
	if err != nil {
		return nil, err
	}
	var files []File
	if err := json.Unmarshal(b, &files); err != nil {
		return nil, err
	}
	return files, nil
}

// pointer is the per-(repo, commit, path) record that maps a file to its blob.
type pointer struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	ETag   string `json:"etag,omitempty"`
}

// Download makes path of repo at commit available locally and returns the
// path of its content-addressed blob (read it, never write it). The file is
// fetched once; later calls, online or offline, read the cache. commit must be
// a full commit id (use Resolve first), because a branch may move and a
// cached file must be tied to immutable content.
//
// The download is checked against Content-Length and against the hash the
// hub announces (the LFS sha256 in X-Linked-Etag, or the git blob id in
// ETag); the X-Repo-Commit header, when present, must equal commit.
func (c *Client) Download(ctx context.Context, t RepoType, repo, commit, p string) (string, error) {
	if err := checkRepo(t, repo); err != nil {
		return "", err
	}
	if err := checkPath(p); err != nil {
		return "", err
	}
	if !IsCommit(commit) {
		return "", fmt.Errorf("hub: download %s %s/%s: revision %q is not a 40-hex commit id; call Resolve first", t, repo, p, commit)
	}
	if err := c.cacheOK(); err != nil {
		return "", err
	}
	what := fmt.Sprintf("%s %s@%s:%s", t, repo, commit[:12], p)
	ptrFile := filepath.Join(c.dir("files", t, repo), commit, filepath.FromSlash(p)+".json")
	if blob, ok := c.cached(ptrFile); ok {
		return blob, nil
	}
	if c.offline {
		return "", fmt.Errorf("hub: download %s: %w", what, ErrOffline)
	}
	u := fmt.Sprintf("%s/%s%s/resolve/%s/%s", c.endpoint, urlPrefix(t), escapeRepo(repo), commit, escapePath(p))
	var meta http.Header // headers of the hub's own answer, before any CDN redirect
	resp, err := c.get(ctx, u, what, &meta)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if got := meta.Get("X-Repo-Commit"); got != "" && got != commit {
		return "", fmt.Errorf("hub: download %s: the hub served commit %s, not the requested one; the revision changed under us, resolve it again", what, got)
	}
	blobDir := filepath.Join(c.cacheDir, "blobs", "sha256")
	if err := os.MkdirAll(blobDir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(blobDir, ".dl-*")
	if err != nil {
		return "", err
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // no-op after the rename
	h256 := sha256.New()
	etag := strings.Trim(strings.TrimPrefix(meta.Get("X-Linked-Etag"), "W/"), `"`)
	if etag == "" {
		etag = strings.Trim(strings.TrimPrefix(meta.Get("ETag"), "W/"), `"`)
	}
	var gitH hash.Hash
	var gitBuf []byte
	if gitBlobRe.MatchString(etag) && resp.ContentLength >= 0 {
		// A git blob id hashes "blob <size>\x00" + content.
		gitH = sha1.New()
		gitBuf = []byte("blob " + strconv.FormatInt(resp.ContentLength, 10) + "\x00")
		gitH.Write(gitBuf)
	}
	w := io.Writer(io.MultiWriter(tmp, h256))
	if gitH != nil {
		w = io.MultiWriter(tmp, h256, gitH)
	}
	n, copyErr := io.Copy(w, resp.Body)
	closeErr := tmp.Close()
	if copyErr != nil {
		return "", fmt.Errorf("hub: download %s: %w after %d bytes: %v", what, ErrIntegrity, n, copyErr)
	}
	if closeErr != nil {
		return "", closeErr
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return "", fmt.Errorf("hub: download %s: %w: got %d bytes, Content-Length said %d (truncated); try again", what, ErrIntegrity, n, resp.ContentLength)
	}
	sum := hex.EncodeToString(h256.Sum(nil))
	switch {
	case sha256Re.MatchString(etag):
		if sum != etag {
			return "", fmt.Errorf("hub: download %s: %w: sha256 %s, the hub announced %s", what, ErrIntegrity, sum, etag)
		}
	case gitH != nil:
		if got := hex.EncodeToString(gitH.Sum(nil)); got != etag {
			return "", fmt.Errorf("hub: download %s: %w: git blob id %s, the hub announced %s", what, ErrIntegrity, got, etag)
		}
	}
	blob := filepath.Join(blobDir, sum)
	if err := os.Rename(tmpName, blob); err != nil {
		return "", err
	}
	ptr, _ := json.Marshal(pointer{SHA256: sum, Size: n, ETag: etag})
	if err := atomicfile.WriteAll(ptrFile, append(ptr, '\n'), 0o644); err != nil {
		return "", err
	}
	return blob, nil
}

// cached returns the blob for a pointer file if both exist and agree in size.
func (c *Client) cached(ptrFile string) (string, bool) {
	b, err := os.ReadFile(ptrFile)
	if err != nil {
		return "", false
	}
	var ptr pointer
	if json.Unmarshal(b, &ptr) != nil || !sha256Re.MatchString(ptr.SHA256) {
		return "", false
	}
	blob := filepath.Join(c.cacheDir, "blobs", "sha256", ptr.SHA256)
	st, err := os.Stat(blob)
	if err != nil || st.Size() != ptr.Size {
		return "", false
	}
	return blob, true
}

// Fetch resolves revision and downloads every file of repo for which keep
// returns true (all files when keep is nil). It returns the commit and a map
// from repository path to local blob path.
func (c *Client) Fetch(ctx context.Context, t RepoType, repo, revision string, keep func(path string) bool) (string, map[string]string, error) {
	commit, err := c.Resolve(ctx, t, repo, revision)
	if err != nil {
		return "", nil, err
	}
	files, err := c.ListFiles(ctx, t, repo, commit)
	if err != nil {
		return "", nil, err
	}
	out := make(map[string]string)
	for _, f := range files {
		if keep != nil && !keep(f.Path) {
			continue
		}
		local, err := c.Download(ctx, t, repo, commit, f.Path)
		if err != nil {
			return "", nil, err
		}
		out[f.Path] = local
	}
	return commit, out, nil
}

func (c *Client) cacheOK() error {
	if c.cacheErr != nil {
		return c.cacheErr
	}
	if c.cacheDir == "" {
		return errors.New("hub: no cache directory: set CROSSIN_CACHE or use WithCacheDir")
	}
	return nil
}

// transient reports whether a transport error may go away on retry (a
// timeout or a reset connection), as opposed to a DNS failure or a refused
// connection, which will not.
func transient(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.IsTimeout && !dnsErr.IsNotFound
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return opErr.Timeout()
	}
	return true
}

// get performs a GET with auth and retries. If meta is non-nil it receives
// the headers of the first response (the hub's, before a CDN redirect),
// which is where the hub puts X-Repo-Commit and X-Linked-Etag.
func (c *Client) get(ctx context.Context, u, what string, meta *http.Header) (*http.Response, error) {
	hc := *c.http
	prev := hc.CheckRedirect
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if meta != nil && len(via) == 1 && req.Response != nil {
			*meta = req.Response.Header.Clone()
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if prev != nil {
			return prev(req, via)
		}
		return nil
	}
	var lastErr error
	for attempt := 0; attempt <= c.retries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(attempt*attempt) * c.backoff):
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("User-Agent", c.userAgent)
		// Uncompressed bytes, so Content-Length and the announced hashes
		// describe exactly what we store.
		req.Header.Set("Accept-Encoding", "identity")
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		if meta != nil {
			*meta = nil
		}
		resp, err := hc.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			lastErr = fmt.Errorf("hub: %s: %v", what, redactErr(err, c.token))
			if !transient(err) {
				// No network, an unknown host, a refused connection:
				// retrying cannot help, and offline planning must be fast.
				return nil, lastErr
			}
			continue
		}
		if meta != nil && *meta == nil {
			*meta = resp.Header.Clone()
		}
		if resp.StatusCode == http.StatusOK {
			return resp, nil
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		msg := hubMessage(resp.Header, body)
		switch {
		case resp.StatusCode == http.StatusNotFound:
			return nil, fmt.Errorf("hub: %s: %w (%s%s)", what, ErrNotFound, resp.Status, msg)
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			hint := "set HF_TOKEN to a token with access to this repository"
			if c.token != "" {
				hint = "the token in HF_TOKEN has no access to this repository (gated repos need the terms accepted on the hub)"
			}
			return nil, fmt.Errorf("hub: %s: %s%s; %s", what, resp.Status, msg, hint)
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			lastErr = fmt.Errorf("hub: %s: %s%s", what, resp.Status, msg)
			continue
		default:
			return nil, fmt.Errorf("hub: %s: %s%s", what, resp.Status, msg)
		}
	}
	return nil, lastErr
}

// hubMessage extracts the hub's error code and message for an error report.
func hubMessage(h http.Header, body []byte) string {
	var parts []string
	if code := h.Get("X-Error-Code"); code != "" {
		parts = append(parts, code)
	}
	if m := h.Get("X-Error-Message"); m != "" {
		parts = append(parts, m)
	} else {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			parts = append(parts, e.Error)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, ": ")
}

func redactErr(err error, token string) string {
	s := err.Error()
	if token != "" {
		s = strings.ReplaceAll(s, token, "<redacted>")
	}
	return s
}

func redactURL(u string) string {
	if p, err := url.Parse(u); err == nil {
		p.User = nil
		return p.String()
	}
	return u
}
