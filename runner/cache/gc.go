package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/crossin-lab/crossin/atomicfile"
)

// GCStats reports what GC removed.
type GCStats struct {
	Entries     int   `json:"entries"`      // index entries removed
	Outputs     int   `json:"outputs"`      // output trees removed
	Bytes       int64 `json:"bytes"`        // bytes of output trees removed
	WorkDirs    int   `json:"work_dirs"`    // abandoned work directories removed
	TempFiles   int   `json:"temp_files"`   // leftovers of interrupted writes removed
	KeptBytes   int64 `json:"kept_bytes"`   // bytes of output trees kept
	KeptEntries int   `json:"kept_entries"` // index entries kept
}

// pullPrefix starts the names of the directories a runner fetches remote
// outputs into (in the cache root), left behind when it is killed.
const pullPrefix = ".pull-"

// tempDirs are the directories (besides the index shards) where atomic
// writes leave temporary files when interrupted.
var tempDirs = []string{".", "records"}

// GC removes entries not used for keep (by their last use), output trees
// that no remaining entry refers to, abandoned work directories (of stages
// no process is running) older than keep, and temporary leftovers. The
// caller must hold the Exclusive lock, so no runner is active meanwhile.
// keep <= 0 removes every entry. The error reports what GC could not read
// or remove; everything else is still collected.
func (c *Cache) GC(keep time.Duration) (GCStats, error) {
	var st GCStats
	var errs []error
	cutoff := c.now().Add(-keep)
	entries, listErrs := c.List()
	for _, err := range listErrs {
		var ce *CorruptError
		if !errors.As(err, &ce) { // damaged entries are removed below
			errs = append(errs, err)
		}
	}
	live := map[string]bool{}
	for _, e := range entries {
		if keep <= 0 || e.Used.Before(cutoff) {
			if err := c.Remove(e.ActionID); err == nil {
				st.Entries++
			} else {
				errs = append(errs, err)
			}
			continue
		}
		live[e.OutputID] = true
		st.KeptEntries++
	}
	// Damaged index entries (List skipped them) go too.
	for _, a := range c.entryIDs(&errs) {
		if _, err := c.readEntry(a); err != nil && !errors.Is(err, ErrNotFound) {
			var ioe *ioError
			if errors.As(err, &ioe) {
				errs = append(errs, err)
				continue
			}
			c.removeEntry(a)
			_ = os.Remove(c.entryPath(a) + ".log")
			st.Entries++
		}
	}
	if len(errs) > 0 {
		// Part of the index could not be read, so which outputs are live
		// is not known: removing "unreferenced" trees could delete the
		// outputs of entries that merely could not be listed.
		return st, errors.Join(errs...)
	}
	for _, s := range readDir(filepath.Join(c.dir, "o"), &errs) {
		for _, t := range readDir(filepath.Join(c.dir, "o", s.Name()), &errs) {
			dir := filepath.Join(c.dir, "o", s.Name(), t.Name())
			size := dirSize(dir)
			if live[t.Name()] {
				st.KeptBytes += size
				continue
			}
			makeWritable(dir)
			if err := os.RemoveAll(dir); err == nil {
				st.Outputs++
				st.Bytes += size
			} else {
				errs = append(errs, err)
			}
		}
	}
	for _, w := range readDir(filepath.Join(c.dir, "work"), &errs) {
		dir := filepath.Join(c.dir, "work", w.Name())
		fi, err := os.Stat(dir)
		if err != nil || (keep > 0 && fi.ModTime().After(cutoff)) {
			continue
		}
		l, ok, err := c.TryLockAction(w.Name())
		if err != nil || !ok {
			continue
		}
		makeWritable(dir)
		if err := os.RemoveAll(dir); err == nil {
			st.WorkDirs++
		} else {
			errs = append(errs, err)
		}
		l.Unlock()
	}
	// Lock files: no runner is active while GC holds the exclusive lock,
	// so none is held; they are recreated on demand.
	for _, l := range readDir(filepath.Join(c.dir, "locks"), &errs) {
		if strings.HasSuffix(l.Name(), ".lock") {
			a := strings.TrimSuffix(l.Name(), ".lock")
			if _, err := os.Stat(filepath.Join(c.dir, "work", a)); err == nil {
				continue // an abandoned work dir kept for resume
			}
			_ = os.Remove(filepath.Join(c.dir, "locks", l.Name()))
		}
	}
	removeTemp := func(p string) {
		makeWritable(p)
		if err := os.RemoveAll(p); err == nil {
			st.TempFiles++
		} else {
			errs = append(errs, err)
		}
	}
	for _, t := range readDir(filepath.Join(c.dir, "tmp"), &errs) {
		removeTemp(filepath.Join(c.dir, "tmp", t.Name()))
	}
	// Temp files of interrupted atomic writes (named by atomicfile) next
	// to index entries, logs, records, remembered hashes and the README,
	// and the fetch directories of killed pulls.
	for _, d := range tempDirs {
		for _, f := range readDir(filepath.Join(c.dir, d), &errs) {
			if atomicfile.IsTemp(f.Name()) || (d == "." && strings.HasPrefix(f.Name(), pullPrefix)) {
				removeTemp(filepath.Join(c.dir, d, f.Name()))
			}
		}
	}
	for _, top := range []string{"a", "hashes"} {
		c.walkShard(top, &errs, func(p string) {
			if atomicfile.IsTemp(filepath.Base(p)) {
				removeTemp(p)
			}
		})
	}
	return st, errors.Join(errs...)
}

// osReadDir is os.ReadDir; tests replace it to make a directory unreadable
// (which permissions cannot do for root).
var osReadDir = os.ReadDir

// readDir lists dir; a directory that does not exist is empty, and any
// other failure is added to errs instead of being taken for "empty".
func readDir(dir string, errs *[]error) []fs.DirEntry {
	ents, err := osReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		*errs = append(*errs, fmt.Errorf("cache: %w", err))
	}
	return ents
}

// walkShard calls fn for every file in the shard directories of top
// ("a", "o", "hashes").
func (c *Cache) walkShard(top string, errs *[]error, fn func(path string)) {
	for _, s := range readDir(filepath.Join(c.dir, top), errs) {
		if !s.IsDir() {
			continue
		}
		for _, f := range readDir(filepath.Join(c.dir, top, s.Name()), errs) {
			fn(filepath.Join(c.dir, top, s.Name(), f.Name()))
		}
	}
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// Usage returns the number of entries and the bytes of stored outputs.
func (c *Cache) Usage() (entries int, bytes int64) {
	es, _ := c.List()
	seen := map[string]bool{}
	for _, e := range es {
		entries++
		if !seen[e.OutputID] {
			seen[e.OutputID] = true
			bytes += e.Size
		}
	}
	return entries, bytes
}

// SetClock replaces the clock (tests use it to age entries).
func (c *Cache) SetClock(now func() time.Time) { c.now = now }
