// Package cache is crossin's content-addressed store of stage outputs,
// modelled on Go's build cache (cmd/go/internal/cache).
//
// A stage is identified by its ActionID: the hash of the complete canonical
// description of what determines its output (computed by runner/plan). Its
// outputs form a directory tree that is stored once, by content, under its
// OutputID (the hash of the tree). A small index entry maps ActionID ->
// OutputID plus metadata (duration, engine, host, time).
//
// Layout under the cache root:
//
//	a/XX/ACTIONID        index entry (JSON with its own checksum)
//	a/XX/ACTIONID.log    the stage's log, kept with its outputs (not hashed)
//	o/XX/OUTPUTID/       the output tree, read-only by convention
//	work/ACTIONID/       where a stage runs; survives a crash so that an
//	                     interrupted training resumes from its checkpoints
//	locks/ACTIONID.lock  flock(2) lock held while a stage runs
//	tmp/                 temporary files, renamed into place when complete
//	gc.lock              shared by runners, exclusive for gc and rm
//
// Every write is a temp file (or directory) renamed into place, so a reader
// never sees a half-written entry; every read re-hashes the output tree, so
// a corrupt entry (disk error, a user editing a file in the cache) is
// detected, reported and rebuilt, never used. Several crossin processes may
// share one cache: a stage is run under its action lock, and a process that
// finds the lock held waits for the holder and then reuses its result, so
// no work is lost or done twice. Locks are flock(2) locks, released by the
// kernel when a process dies, even by kill -9.
package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/crossin-lab/crossin/atomicfile"
	"github.com/crossin-lab/crossin/internal/cachedir"
)

// entryVersion is the index entry format version.
const entryVersion = 1

// ErrNotFound is returned by Get when an action has no entry.
var ErrNotFound = errors.New("cache: no entry")

// CorruptError reports an entry that failed verification. From Get (and
// Verify) the entry has been removed by the time the caller sees it, so
// rerunning the stage rebuilds it; List only reports it.
type CorruptError struct {
	ActionID string
	Reason   string
	kept     bool // found by List, which reports and does not remove
}

func (e *CorruptError) Error() string {
	if e.kept {
		return fmt.Sprintf("cache entry %s is corrupt (%s); `crossin cache verify` removes it", short(e.ActionID), e.Reason)
	}
	return fmt.Sprintf("cache entry %s is corrupt (%s); removed, it will be rebuilt", short(e.ActionID), e.Reason)
}

// Cache is an open cache directory.
type Cache struct {
	dir string
	now func() time.Time
}

// Meta is the metadata recorded with an entry.
type Meta struct {
	Stage    string        `json:"stage,omitempty"`  // human-readable stage name
	Kind     string        `json:"kind,omitempty"`   // stage kind: model, data, train, eval, score, report
	Engine   string        `json:"engine,omitempty"` // engine or image that produced the output
	Host     string        `json:"host,omitempty"`
	Duration time.Duration `json:"duration_ns,omitempty"`
}

// Entry is one index entry.
type Entry struct {
	Version  int       `json:"v"`
	ActionID string    `json:"action"`
	OutputID string    `json:"output"`
	Size     int64     `json:"size"`  // bytes in the output tree
	Files    int       `json:"files"` // regular files in the output tree
	Time     time.Time `json:"time"`  // when the entry was written
	Meta
	// Sum is the SHA-256 of the entry's JSON with Sum empty: a damaged
	// index entry is detected like a damaged output.
	Sum string `json:"sum"`

	// Used is the last time the entry was read (the index file's mtime);
	// gc uses it. Not stored in the JSON.
	Used time.Time `json:"-"`
}

// OpenDefault opens the cache at cachedir.Dir ($CROSSIN_CACHE, or crossin/
// under the user cache directory).
func OpenDefault() (*Cache, error) {
	d, err := cachedir.Dir()
	if err != nil {
		return nil, err
	}
	return Open(d)
}

// Open opens (creating if needed) the cache rooted at dir.
func Open(dir string) (*Cache, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	for _, sub := range []string{"a", "o", "work", "locks", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o777); err != nil {
			if _, serr := os.Stat(dir); serr == nil && isReadOnly(err) {
				// A cache this process may only read: reading needs
				// none of the directories it cannot create.
				continue
			}
			return nil, fmt.Errorf("cache: %w", err)
		}
	}
	readme := filepath.Join(dir, "README")
	if _, err := os.Stat(readme); err != nil {
		_ = atomicfile.Write(readme, []byte("This directory holds cached crossin stage outputs.\nManage it with `crossin cache ls|verify|gc|rm`; do not edit files here.\n"), 0o666)
	}
	return &Cache{dir: dir, now: time.Now}, nil
}

// Dir returns the cache root.
func (c *Cache) Dir() string { return c.dir }

// checkID rejects IDs that are not lowercase hex, so that an ID can never
// name a path outside the cache.
func checkID(id string) error {
	if len(id) < 8 || len(id) > 128 {
		return fmt.Errorf("cache: bad id %q: want 8 to 128 hex digits", id)
	}
	for i := 0; i < len(id); i++ {
		ch := id[i]
		if !('0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'f') {
			return fmt.Errorf("cache: bad id %q: want lowercase hex digits", id)
		}
	}
	return nil
}

// NormalizeID accepts an ID with or without a "sha256:" prefix and returns
// the bare hex form the cache uses in paths.
func NormalizeID(id string) string {
	return strings.TrimPrefix(id, "sha256:")
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func (c *Cache) entryPath(action string) string {
	return filepath.Join(c.dir, "a", action[:2], action)
}

// LogPath returns where the log of an action's stage is kept.
func (c *Cache) LogPath(actionID string) string {
	a := NormalizeID(actionID)
	if checkID(a) != nil {
		return ""
	}
	return c.entryPath(a) + ".log"
}

// OutputDir returns the directory holding the output tree outputID.
func (c *Cache) OutputDir(outputID string) string {
	o := NormalizeID(outputID)
	if len(o) < 2 {
		return filepath.Join(c.dir, "o", "invalid")
	}
	return filepath.Join(c.dir, "o", o[:2], o)
}

// WorkDir returns the per-action work directory in which a stage runs.
// It persists across crashes (a training stage keeps its checkpoints there)
// and is removed by Put.
func (c *Cache) WorkDir(actionID string) string {
	return filepath.Join(c.dir, "work", NormalizeID(actionID))
}

// Lookup reports the OutputID recorded for actionID. It verifies the index
// entry and that the output tree exists, but does not re-hash the tree
// (Get does); it is meant for planning. A damaged entry is reported as a
// miss.
func (c *Cache) Lookup(actionID string) (outputID string, ok bool) {
	e, err := c.readEntry(NormalizeID(actionID))
	if err != nil {
		return "", false
	}
	if _, err := os.Stat(c.OutputDir(e.OutputID)); err != nil {
		return "", false
	}
	return e.OutputID, true
}

// Get returns the entry for actionID after verifying the index entry and
// re-hashing the whole output tree. It returns ErrNotFound for a miss and a
// *CorruptError (after removing the entry and the damaged tree) when
// verification fails.
func (c *Cache) Get(actionID string) (*Entry, error) {
	a := NormalizeID(actionID)
	if err := checkID(a); err != nil {
		return nil, err
	}
	e, err := c.readEntry(a)
	if err != nil {
		var ioe *ioError
		if errors.Is(err, ErrNotFound) || errors.As(err, &ioe) {
			return nil, err
		}
		c.removeEntry(a)
		return nil, &CorruptError{ActionID: a, Reason: err.Error()}
	}
	dir := c.OutputDir(e.OutputID)
	sum, err := TreeHash(dir)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			// The tree may be intact; this process just cannot read it.
			// Removing it would destroy another user's good entry.
			return nil, fmt.Errorf("cache: reading output of %s: %w", short(a), err)
		}
		c.removeEntry(a)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &CorruptError{ActionID: a, Reason: "output " + short(e.OutputID) + " is missing"}
		}
		c.quarantine(dir)
		return nil, &CorruptError{ActionID: a, Reason: err.Error()}
	}
	if sum.ID != e.OutputID {
		c.removeEntry(a)
		c.quarantine(dir)
		return nil, &CorruptError{ActionID: a, Reason: fmt.Sprintf("output %s hashes to %s", short(e.OutputID), short(sum.ID))}
	}
	c.touch(c.entryPath(a))
	return e, nil
}

// touch records a use of an entry for gc, at most once an hour (as the Go
// cache does) so that warm runs do not write to the cache.
func (c *Cache) touch(path string) {
	now := c.now()
	if fi, err := os.Stat(path); err == nil && now.Sub(fi.ModTime()) > time.Hour {
		_ = os.Chtimes(path, now, now)
	}
}

func (c *Cache) readEntry(a string) (*Entry, error) {
	if err := checkID(a); err != nil {
		return nil, err
	}
	p := c.entryPath(a)
	data, err := os.ReadFile(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, ErrNotFound
		}
		return nil, &ioError{err}
	}
	e, err := decodeEntry(data)
	if err != nil {
		return nil, fmt.Errorf("index entry: %w", err)
	}
	if e.ActionID != a {
		return nil, fmt.Errorf("index entry names action %s", short(e.ActionID))
	}
	if fi, err := os.Stat(p); err == nil {
		e.Used = fi.ModTime()
	}
	return e, nil
}

// ioError is a failure to read an index entry (permissions, I/O), as
// opposed to an entry that was read and is damaged: the entry is not
// removed for it.
type ioError struct{ err error }

func (e *ioError) Error() string { return "cache: " + e.err.Error() }
func (e *ioError) Unwrap() error { return e.err }

func decodeEntry(data []byte) (*Entry, error) {
	var e Entry
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("malformed: %v", err)
	}
	if e.Version != entryVersion {
		return nil, fmt.Errorf("version %d, want %d", e.Version, entryVersion)
	}
	want := e.Sum
	if want != entrySum(&e) {
		return nil, errors.New("checksum mismatch")
	}
	if checkID(e.OutputID) != nil {
		return nil, fmt.Errorf("bad output id %q", e.OutputID)
	}
	return &e, nil
}

func entrySum(e *Entry) string {
	cp := *e
	cp.Sum = ""
	data, _ := json.Marshal(&cp)
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

func (c *Cache) removeEntry(a string) {
	_ = os.Remove(c.entryPath(a))
}

// quarantine moves a damaged output tree out of the store and deletes it.
// The rename is atomic, so a concurrent reader either sees the old tree
// (and fails verification too) or no tree.
func (c *Cache) quarantine(dir string) {
	tmp, err := os.MkdirTemp(filepath.Join(c.dir, "tmp"), "corrupt-")
	if err != nil {
		return
	}
	dst := filepath.Join(tmp, "tree")
	if os.Rename(dir, dst) == nil {
		makeWritable(tmp)
	}
	_ = os.RemoveAll(tmp)
}

// MkdirTemp creates a new directory under the cache's tmp/ (on the same
// file system as the store, so Put can rename it into place); gc removes
// what a killed process leaves there.
func (c *Cache) MkdirTemp(pattern string) (string, error) {
	return os.MkdirTemp(filepath.Join(c.dir, "tmp"), pattern)
}

// Put stores the tree at dir as the output of actionID and records the
// index entry. dir is consumed: it is renamed into the store when its
// content is new and removed otherwise. Put returns the new entry.
func (c *Cache) Put(actionID, dir string, meta Meta) (*Entry, error) {
	a := NormalizeID(actionID)
	if err := checkID(a); err != nil {
		return nil, err
	}
	sum, err := TreeHash(dir)
	if err != nil {
		return nil, fmt.Errorf("cache: hashing outputs of %s: %w", short(a), err)
	}
	dst := c.OutputDir(sum.ID)
	if err := os.MkdirAll(filepath.Dir(dst), 0o777); err != nil {
		return nil, err
	}
	stored := false
	if _, err := os.Stat(dst); err == nil {
		// The same content is already stored (by another action or an
		// earlier run). Trust it only if it verifies.
		if s2, err := TreeHash(dst); err == nil && s2.ID == sum.ID {
			stored = true
		} else {
			c.quarantine(dst)
		}
	}
	if !stored {
		if err := os.Rename(dir, dst); err != nil {
			if _, statErr := os.Stat(dst); statErr != nil {
				return nil, fmt.Errorf("cache: storing outputs of %s: %w", short(a), err)
			}
			// Lost a race with another writer of the same content.
		}
	}
	_ = os.RemoveAll(dir)
	e := &Entry{
		Version:  entryVersion,
		ActionID: a,
		OutputID: sum.ID,
		Size:     sum.Size,
		Files:    sum.Files,
		Time:     c.now().UTC().Truncate(time.Millisecond),
		Meta:     meta,
	}
	e.Sum = entrySum(e)
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return nil, err
	}
	p := c.entryPath(a)
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(p, append(data, '\n'), 0o666); err != nil {
		return nil, fmt.Errorf("cache: writing index entry: %w", err)
	}
	return e, nil
}

// PutLog stores the log of actionID's stage (atomically), replacing any
// earlier one.
func (c *Cache) PutLog(actionID string, log []byte) error {
	p := c.LogPath(actionID)
	if p == "" {
		return checkID(NormalizeID(actionID))
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		return err
	}
	return atomicfile.Write(p, log, 0o666)
}

// Remove deletes the index entry (and log) of actionID. Output trees are
// shared by content and are left for gc.
func (c *Cache) Remove(actionID string) error {
	a := NormalizeID(actionID)
	if err := checkID(a); err != nil {
		return err
	}
	err := os.Remove(c.entryPath(a))
	_ = os.Remove(c.entryPath(a) + ".log")
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cache: no entry %s", short(a))
	}
	return err
}

// List returns every index entry, sorted by time then action. Damaged
// entries, and directories that cannot be read, are skipped and returned
// as errors alongside (a *CorruptError for a damaged entry), so that no
// caller mistakes them for absent.
func (c *Cache) List() ([]*Entry, []error) {
	var out []*Entry
	var errs []error
	for _, name := range c.entryIDs(&errs) {
		e, err := c.readEntry(name)
		if err != nil {
			var ioe *ioError
			if errors.Is(err, ErrNotFound) {
				continue // removed meanwhile
			}
			if !errors.As(err, &ioe) {
				err = &CorruptError{ActionID: name, Reason: err.Error(), kept: true}
			}
			errs = append(errs, err)
			continue
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].ActionID < out[j].ActionID
	})
	return out, errs
}

// entryIDs returns the action IDs of every index entry file, sorted, and
// appends a failure to read a directory of the index to errs.
func (c *Cache) entryIDs(errs *[]error) []string {
	var ids []string
	c.walkShard("a", errs, func(p string) {
		name := filepath.Base(p)
		if !strings.Contains(name, ".") && checkID(name) == nil {
			ids = append(ids, name)
		}
	})
	sort.Strings(ids)
	return ids
}

// Find returns the entries whose action ID starts with prefix or whose
// stage name equals it.
func (c *Cache) Find(key string) []*Entry {
	entries, _ := c.List() // damaged entries match nothing; ls and verify report them
	var out []*Entry
	k := NormalizeID(key)
	for _, e := range entries {
		if e.Stage == key || (len(k) >= 4 && strings.HasPrefix(e.ActionID, k)) {
			out = append(out, e)
		}
	}
	return out
}

// Problem is one verification failure.
type Problem struct {
	ActionID string `json:"action"`
	Stage    string `json:"stage,omitempty"`
	Reason   string `json:"reason"`
}

// Verify re-hashes every entry's output tree. Damaged entries are removed
// (so the next run rebuilds them) and reported. err reports what could
// not be checked at all (an unreadable index directory or entry).
func (c *Cache) Verify() (ok int, problems []Problem, err error) {
	var errs []error
	for _, a := range c.entryIDs(&errs) {
		stage := ""
		if e, err := c.readEntry(a); err == nil {
			stage = e.Stage
		}
		_, err := c.Get(a)
		var ce *CorruptError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &ce):
			problems = append(problems, Problem{ActionID: a, Stage: stage, Reason: ce.Reason})
		case errors.Is(err, ErrNotFound):
			// removed concurrently
		default:
			errs = append(errs, fmt.Errorf("entry %s: %w", short(a), err))
		}
	}
	return ok, problems, errors.Join(errs...)
}

func makeWritable(dir string) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o777)
		}
		return nil
	})
}

// TreeSum is the hash of an output tree.
type TreeSum struct {
	ID    string // hex SHA-256 of the canonical listing
	Size  int64
	Files int
}

// TreeHash hashes the tree at path (a directory, or a single file) in a
// canonical form independent of mtimes, permissions and walk order: one
// line per entry, sorted by path, "d PATH" for directories and
// "f SHA256 SIZE PATH" for files. Symbolic links and other special files
// are rejected: outputs must be self-contained.
func TreeHash(path string) (TreeSum, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return TreeSum{}, err
	}
	var lines []string
	var sum TreeSum
	hashFile := func(p, rel string) error {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		if err != nil {
			return fmt.Errorf("reading %s: %w", rel, err)
		}
		lines = append(lines, fmt.Sprintf("f %x %d %s", h.Sum(nil), n, rel))
		sum.Size += n
		sum.Files++
		return nil
	}
	if fi.Mode().IsRegular() {
		if err := hashFile(path, "."); err != nil {
			return TreeSum{}, err
		}
	} else if fi.IsDir() {
		err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(path, p)
			rel = filepath.ToSlash(rel)
			switch {
			case d.IsDir():
				if rel != "." {
					lines = append(lines, "d "+rel)
				}
				return nil
			case d.Type().IsRegular():
				return hashFile(p, rel)
			default:
				return fmt.Errorf("%s: not a regular file or directory", rel)
			}
		})
		if err != nil {
			return TreeSum{}, err
		}
	} else {
		return TreeSum{}, fmt.Errorf("%s: not a regular file or directory", path)
	}
	sort.Slice(lines, func(i, j int) bool { return pathKey(lines[i]) < pathKey(lines[j]) })
	h := sha256.New()
	h.Write([]byte("crossin tree v1\n"))
	for _, l := range lines {
		h.Write([]byte(l))
		h.Write([]byte{'\n'})
	}
	sum.ID = hex.EncodeToString(h.Sum(nil))
	return sum, nil
}

// pathKey returns the path part of a listing line.
func pathKey(line string) string {
	if strings.HasPrefix(line, "d ") {
		return line[2:]
	}
	// "f HASH SIZE PATH"
	parts := strings.SplitN(line, " ", 4)
	if len(parts) == 4 {
		return parts[3]
	}
	return line
}
