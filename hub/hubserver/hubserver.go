// Package hubserver is a local server that speaks the subset of the
// Hugging Face hub HTTP API that hub clients use to resolve revisions,
// list and download files (crossin's hub package, huggingface_hub,
// datasets): revision info, file trees, resolve and raw downloads, with
// large-file (LFS) downloads redirected to a content-addressed "CDN"
// path and announced by sha256, small files by git blob id, as the real
// hub does.
//
// It serves repositories held in memory (New, Add) or read from a
// directory laid out as ROOT/models/OWNER/NAME/... and
// ROOT/datasets/OWNER/NAME/... (Load). It exists so that the real hub
// code can be exercised end to end without the network: the hub tests,
// and `crossin run --smoke` against stand-in repositories (`crossin hub
// serve`).
//
// Commits are content addresses: a repository's commit id is the SHA-1
// of its sorted file list with each file's git blob id, so the same files
// always get the same commit, on any machine.
package hubserver

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Repository kinds, in the plural the API paths use.
const (
	Models   = "models"
	Datasets = "datasets"
	Spaces   = "spaces"
)

// Repo is one repository's files at one commit.
type Repo struct {
	// Kind is Models, Datasets or Spaces.
	Kind string
	// ID is "owner/name".
	ID string
	// Files maps a slash-separated path inside the repository to its bytes.
	Files map[string][]byte
}

// file is a served file with the hashes the hub announces for it.
type file struct {
	data   []byte
	blobID string // git blob id (sha1 of "blob <n>\x00" + data)
	sha256 string // hex
	lfs    bool
}

type commit struct {
	id    string
	files map[string]*file
	paths []string // sorted
}

type repo struct {
	kind, id string
	refs     map[string]string // branch or tag -> commit id
	commits  map[string]*commit
}

// Server serves repositories over the hub API. It is safe for concurrent
// use; repositories can be added while it serves.
type Server struct {
	mu    sync.RWMutex
	repos map[string]*repo // "kind/owner/name"
	token string
	lfs   func(path string, size int) bool
	// blobs maps a sha256 to an LFS file's bytes (the "CDN").
	blobs map[string][]byte
}

// Option configures a Server.
type Option func(*Server)

// WithToken makes every request need "Authorization: Bearer TOKEN"
// (answered 401 with X-Error-Code GatedRepo otherwise), as a gated repo.
func WithToken(token string) Option { return func(s *Server) { s.token = token } }

// DefaultLFS is the LFS rule: weights, Parquet and archives, and every file
// of 10 MiB or more, as the hub's default .gitattributes.
func DefaultLFS(p string, size int) bool {
	if size >= 10<<20 {
		return true
	}
	switch strings.ToLower(path.Ext(p)) {
	case ".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".onnx", ".gguf",
		".parquet", ".arrow", ".model", ".gz", ".zip", ".tar", ".zst", ".npy", ".npz", ".pkl":
		return true
	}
	return false
}

// New returns a server holding repos (each as one commit on "main").
func New(repos []Repo, opts ...Option) (*Server, error) {
	s := &Server{repos: map[string]*repo{}, blobs: map[string][]byte{}, lfs: DefaultLFS}
	for _, o := range opts {
		o(s)
	}
	for _, r := range repos {
		if _, err := s.Add(r); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Add stores r's files as a new commit of the repository and points its
// "main" branch at it (earlier commits stay downloadable, as on the hub).
// It returns the commit id.
func (s *Server) Add(r Repo) (string, error) {
	switch r.Kind {
	case Models, Datasets, Spaces:
	default:
		return "", fmt.Errorf("hubserver: repository %s: kind %q (want %s, %s or %s)", r.ID, r.Kind, Models, Datasets, Spaces)
	}
	if owner, name, ok := strings.Cut(r.ID, "/"); !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", fmt.Errorf("hubserver: repository id %q: want owner/name", r.ID)
	}
	c := &commit{files: map[string]*file{}}
	h := sha1.New()
	fmt.Fprintf(h, "crossin-hubserver/v1 %s/%s\n", r.Kind, r.ID)
	for p := range r.Files {
		if !fs.ValidPath(p) || p == "." {
			return "", fmt.Errorf("hubserver: repository %s: bad file path %q", r.ID, p)
		}
		c.paths = append(c.paths, p)
	}
	sort.Strings(c.paths)
	for _, p := range c.paths {
		data := r.Files[p]
		sum := sha256.Sum256(data)
		f := &file{data: data, blobID: GitBlobID(data), sha256: hex.EncodeToString(sum[:]), lfs: s.lfs(p, len(data))}
		c.files[p] = f
		fmt.Fprintf(h, "%s %s\n", f.blobID, p)
	}
	c.id = hex.EncodeToString(h.Sum(nil))
	s.mu.Lock()
	defer s.mu.Unlock()
	key := r.Kind + "/" + r.ID
	rp := s.repos[key]
	if rp == nil {
		rp = &repo{kind: r.Kind, id: r.ID, refs: map[string]string{}, commits: map[string]*commit{}}
		s.repos[key] = rp
	}
	rp.commits[c.id] = c
	rp.refs["main"] = c.id
	for _, f := range c.files {
		if f.lfs {
			s.blobs[f.sha256] = f.data
		}
	}
	return c.id, nil
}

// SetRef points a branch or tag of a repository at one of its commits.
func (s *Server) SetRef(kind, id, ref, commitID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repos[kind+"/"+id]
	if rp == nil {
		return fmt.Errorf("hubserver: no repository %s/%s", kind, id)
	}
	if rp.commits[commitID] == nil {
		return fmt.Errorf("hubserver: repository %s/%s has no commit %s", kind, id, commitID)
	}
	rp.refs[ref] = commitID
	return nil
}

// Commit returns the commit a branch or tag of a repository points to.
func (s *Server) Commit(kind, id, ref string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	rp := s.repos[kind+"/"+id]
	if rp == nil {
		return "", false
	}
	c, ok := rp.refs[ref]
	return c, ok
}

// Repos lists the repositories served, as "kind/owner/name", sorted.
func (s *Server) Repos() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for k := range s.repos {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// GitBlobID is the git blob id of data, which the hub sends as the ETag of
// a file not stored in LFS.
func GitBlobID(data []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(data))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// Load reads the repositories under root: root/models/OWNER/NAME/** and
// root/datasets/OWNER/NAME/** (and spaces/), every regular file a
// repository file. Hidden files and directories (".git") are skipped.
func Load(root string) ([]Repo, error) {
	var repos []Repo
	found := false
	for _, kind := range []string{Models, Datasets, Spaces} {
		owners, err := os.ReadDir(filepath.Join(root, kind))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		found = true
		for _, o := range owners {
			if !o.IsDir() || strings.HasPrefix(o.Name(), ".") {
				continue
			}
			names, err := os.ReadDir(filepath.Join(root, kind, o.Name()))
			if err != nil {
				return nil, err
			}
			for _, n := range names {
				if !n.IsDir() || strings.HasPrefix(n.Name(), ".") {
					continue
				}
				dir := filepath.Join(root, kind, o.Name(), n.Name())
				r := Repo{Kind: kind, ID: o.Name() + "/" + n.Name(), Files: map[string][]byte{}}
				err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
					if err != nil {
						return err
					}
					if strings.HasPrefix(d.Name(), ".") && p != dir {
						if d.IsDir() {
							return filepath.SkipDir
						}
						return nil
					}
					if !d.Type().IsRegular() {
						return nil
					}
					b, err := os.ReadFile(p)
					if err != nil {
						return err
					}
					rel, _ := filepath.Rel(dir, p)
					r.Files[filepath.ToSlash(rel)] = b
					return nil
				})
				if err != nil {
					return nil, err
				}
				repos = append(repos, r)
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("hubserver: %s has no models/, datasets/ or spaces/ directory (want ROOT/models/OWNER/NAME/... or ROOT/datasets/OWNER/NAME/...)", root)
	}
	return repos, nil
}

// Write stores repos under root in the layout Load reads.
func Write(root string, repos []Repo) error {
	for _, r := range repos {
		for p, data := range r.Files {
			dst := filepath.Join(root, r.Kind, filepath.FromSlash(r.ID), filepath.FromSlash(p))
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(dst, data, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// hubError answers like the hub: a status, X-Error-Code and a JSON body.
func hubError(w http.ResponseWriter, status int, code, msg string) {
	if code != "" {
		w.Header().Set("X-Error-Code", code)
	}
	w.Header().Set("X-Error-Message", msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"error": msg})
	w.Write(b)
}

// segments splits an escaped URL path into unescaped segments.
func segments(escaped string) ([]string, bool) {
	parts := strings.Split(strings.Trim(escaped, "/"), "/")
	for i, p := range parts {
		u, err := url.PathUnescape(p)
		if err != nil {
			return nil, false
		}
		parts[i] = u
	}
	return parts, true
}

// ServeHTTP answers the hub API:
//
//	GET /api/{models,datasets,spaces}/OWNER/NAME[/revision/REV]
//	GET /api/{models,datasets,spaces}/OWNER/NAME/tree/REV[/PATH][?recursive=1]
//	GET|HEAD /[datasets/|spaces/]OWNER/NAME/{resolve,raw}/REV/PATH
//	GET|HEAD /cdn/SHA256   (where LFS downloads are redirected)
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hubError(w, http.StatusMethodNotAllowed, "", "this hub stand-in is read-only")
		return
	}
	if s.token != "" && r.Header.Get("Authorization") != "Bearer "+s.token {
		hubError(w, http.StatusUnauthorized, "GatedRepo", "Access to this repository is restricted: a token is needed")
		return
	}
	seg, ok := segments(r.URL.EscapedPath())
	if !ok || len(seg) == 0 {
		hubError(w, http.StatusNotFound, "", "not found")
		return
	}
	switch {
	case seg[0] == "api" && len(seg) >= 4:
		s.serveAPI(w, r, seg[1], seg[2]+"/"+seg[3], seg[4:])
	case seg[0] == "cdn" && len(seg) == 2:
		s.serveBlob(w, r, seg[1])
	case (seg[0] == Datasets || seg[0] == Spaces) && len(seg) >= 6:
		s.serveFile(w, r, seg[0], seg[1]+"/"+seg[2], seg[3], seg[4], strings.Join(seg[5:], "/"))
	case len(seg) >= 5:
		s.serveFile(w, r, Models, seg[0]+"/"+seg[1], seg[2], seg[3], strings.Join(seg[4:], "/"))
	default:
		hubError(w, http.StatusNotFound, "", "not found")
	}
}

// lookup finds a repository and the commit a revision names.
func (s *Server) lookup(w http.ResponseWriter, kind, id, rev string) (*repo, *commit, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	rp := s.repos[kind+"/"+id]
	if rp == nil {
		hubError(w, http.StatusNotFound, "RepoNotFound", fmt.Sprintf("Repository Not Found for url: %s/%s", kind, id))
		return nil, nil, false
	}
	if rev == "" {
		rev = "main"
	}
	cid, ok := rp.refs[rev]
	if !ok {
		cid = rev
	}
	c := rp.commits[cid]
	if c == nil {
		hubError(w, http.StatusNotFound, "RevisionNotFound", fmt.Sprintf("Invalid rev id: %s", rev))
		return nil, nil, false
	}
	return rp, c, true
}

type lfsInfo struct {
	SHA256      string `json:"sha256"`
	Size        int    `json:"size"`
	PointerSize int    `json:"pointerSize"`
}

type sibling struct {
	RFilename string   `json:"rfilename"`
	Size      int      `json:"size"`
	BlobID    string   `json:"blobId"`
	LFS       *lfsInfo `json:"lfs,omitempty"`
}

type treeEntry struct {
	Type string   `json:"type"`
	OID  string   `json:"oid"`
	Size int      `json:"size"`
	Path string   `json:"path"`
	LFS  *lfsInfo `json:"lfs,omitempty"`
}

func (f *file) lfsInfo() *lfsInfo {
	if !f.lfs {
		return nil
	}
	return &lfsInfo{SHA256: f.sha256, Size: len(f.data), PointerSize: len(lfsPointer(f))}
}

func lfsPointer(f *file) []byte {
	return []byte(fmt.Sprintf("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n", f.sha256, len(f.data)))
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, kind, id string, rest []string) {
	switch kind {
	case Models, Datasets, Spaces:
	default:
		hubError(w, http.StatusNotFound, "", "not found")
		return
	}
	rev := ""
	op := "info"
	if len(rest) > 0 {
		if len(rest) < 2 || (rest[0] != "revision" && rest[0] != "tree") {
			hubError(w, http.StatusNotFound, "", "not found")
			return
		}
		op, rev = rest[0], rest[1]
	}
	_, c, ok := s.lookup(w, kind, id, rev)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Repo-Commit", c.id)
	var v any
	switch op {
	case "info", "revision":
		sibs := make([]sibling, 0, len(c.paths))
		for _, p := range c.paths {
			f := c.files[p]
			sibs = append(sibs, sibling{RFilename: p, Size: len(f.data), BlobID: f.blobID, LFS: f.lfsInfo()})
		}
		v = map[string]any{"id": id, "sha": c.id, "private": false, "gated": false, "disabled": false,
			"lastModified": time.Unix(0, 0).UTC().Format(time.RFC3339), "siblings": sibs}
	case "tree":
		entries := tree(c, strings.Join(rest[2:], "/"), r.URL.Query().Get("recursive"))
		if entries == nil {
			hubError(w, http.StatusNotFound, "EntryNotFound", "no such directory in the repository")
			return
		}
		v = entries
	}
	b, _ := json.Marshal(v)
	w.Write(b)
}

// tree lists dir (all levels when recursive is "1" or "true").
func tree(c *commit, dir, recursive string) []treeEntry {
	deep := recursive == "1" || recursive == "true" || recursive == "True"
	prefix := ""
	if dir != "" {
		prefix = dir + "/"
	}
	out := []treeEntry{}
	seenDir := map[string]bool{}
	found := dir == ""
	for _, p := range c.paths {
		if !strings.HasPrefix(p, prefix) {
			continue
		}
		found = true
		rest := strings.TrimPrefix(p, prefix)
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			// Every directory on the way, once.
			for j := i; j >= 0; {
				d := prefix + rest[:j]
				if !seenDir[d] {
					seenDir[d] = true
					sum := sha1.Sum([]byte("tree " + d))
					out = append(out, treeEntry{Type: "directory", OID: hex.EncodeToString(sum[:]), Path: d})
				}
				if !deep {
					break
				}
				k := strings.IndexByte(rest[j+1:], '/')
				if k < 0 {
					break
				}
				j = j + 1 + k
			}
			if !deep {
				continue
			}
		}
		f := c.files[p]
		out = append(out, treeEntry{Type: "file", OID: f.blobID, Size: len(f.data), Path: p, LFS: f.lfsInfo()})
	}
	if !found {
		return nil
	}
	return out
}

func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, kind, id, op, rev, p string) {
	if op != "resolve" && op != "raw" {
		hubError(w, http.StatusNotFound, "", "not found")
		return
	}
	_, c, ok := s.lookup(w, kind, id, rev)
	if !ok {
		return
	}
	f := c.files[p]
	if f == nil {
		hubError(w, http.StatusNotFound, "EntryNotFound", fmt.Sprintf("%s does not exist in %s/%s at %s", p, kind, id, rev))
		return
	}
	w.Header().Set("X-Repo-Commit", c.id)
	if op == "raw" && f.lfs {
		// raw/ answers what git stores: the LFS pointer.
		w.Header().Set("ETag", `"`+GitBlobID(lfsPointer(f))+`"`)
		http.ServeContent(w, r, path.Base(p), time.Time{}, bytes.NewReader(lfsPointer(f)))
		return
	}
	if op == "resolve" && f.lfs {
		w.Header().Set("X-Linked-Etag", `"`+f.sha256+`"`)
		w.Header().Set("X-Linked-Size", strconv.Itoa(len(f.data)))
		w.Header().Set("ETag", `"`+f.sha256+`"`)
		http.Redirect(w, r, "/cdn/"+f.sha256, http.StatusFound)
		return
	}
	w.Header().Set("ETag", `"`+f.blobID+`"`)
	http.ServeContent(w, r, path.Base(p), time.Time{}, bytes.NewReader(f.data))
}

func (s *Server) serveBlob(w http.ResponseWriter, r *http.Request, sum string) {
	s.mu.RLock()
	data, ok := s.blobs[sum]
	s.mu.RUnlock()
	if !ok {
		hubError(w, http.StatusNotFound, "", "no such object")
		return
	}
	w.Header().Set("ETag", `"`+sum+`"`)
	http.ServeContent(w, r, sum, time.Time{}, bytes.NewReader(data))
}
