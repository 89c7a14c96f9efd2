package cache

import (
	"os"
	"path/filepath"
	"strings"
	"time"
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

// GC removes entries not used for keep (by their last use), output trees
// that no remaining entry refers to, abandoned work directories (of stages
// no process is running) older than keep, and temporary leftovers. The
// caller must hold the Exclusive lock, so no runner is active meanwhile.
// keep <= 0 removes every entry.
func (c *Cache) GC(keep time.Duration) GCStats {
	var st GCStats
	cutoff := c.now().Add(-keep)
	entries, _ := c.List()
	live := map[string]bool{}
	for _, e := range entries {
		if keep <= 0 || e.Used.Before(cutoff) {
			if c.Remove(e.ActionID) == nil {
				st.Entries++
			}
			continue
		}
		live[e.OutputID] = true
		st.KeptEntries++
	}
	// Damaged index entries (List skipped them) go too.
	c.walkEntries(func(a string) {
		if _, err := c.readEntry(a); err != nil {
			c.removeEntry(a)
			_ = os.Remove(c.entryPath(a) + ".log")
			st.Entries++
		}
	})
	shards, _ := os.ReadDir(filepath.Join(c.dir, "o"))
	for _, s := range shards {
		trees, _ := os.ReadDir(filepath.Join(c.dir, "o", s.Name()))
		for _, t := range trees {
			dir := filepath.Join(c.dir, "o", s.Name(), t.Name())
			size := dirSize(dir)
			if live[t.Name()] {
				st.KeptBytes += size
				continue
			}
			makeWritable(dir)
			if os.RemoveAll(dir) == nil {
				st.Outputs++
				st.Bytes += size
			}
		}
	}
	works, _ := os.ReadDir(filepath.Join(c.dir, "work"))
	for _, w := range works {
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
		if os.RemoveAll(dir) == nil {
			st.WorkDirs++
		}
		l.Unlock()
	}
	// Lock files: no runner is active while GC holds the exclusive lock,
	// so none is held; they are recreated on demand.
	locks, _ := os.ReadDir(filepath.Join(c.dir, "locks"))
	for _, l := range locks {
		if strings.HasSuffix(l.Name(), ".lock") {
			a := strings.TrimSuffix(l.Name(), ".lock")
			if _, err := os.Stat(filepath.Join(c.dir, "work", a)); err == nil {
				continue // an abandoned work dir kept for resume
			}
			_ = os.Remove(filepath.Join(c.dir, "locks", l.Name()))
		}
	}
	tmps, _ := os.ReadDir(filepath.Join(c.dir, "tmp"))
	for _, t := range tmps {
		p := filepath.Join(c.dir, "tmp", t.Name())
		makeWritable(p)
		if os.RemoveAll(p) == nil {
			st.TempFiles++
		}
	}
	// Temp files of interrupted atomic writes next to index entries.
	c.walkShard("a", func(p string) {
		if strings.HasPrefix(filepath.Base(p), ".tmp-") {
			if os.Remove(p) == nil {
				st.TempFiles++
			}
		}
	})
	return st
}

func (c *Cache) walkEntries(fn func(action string)) {
	c.walkShard("a", func(p string) {
		name := filepath.Base(p)
		if !strings.Contains(name, ".") && checkID(name) == nil {
			fn(name)
		}
	})
}

func (c *Cache) walkShard(top string, fn func(path string)) {
	shards, _ := os.ReadDir(filepath.Join(c.dir, top))
	for _, s := range shards {
		if !s.IsDir() {
			continue
		}
		files, _ := os.ReadDir(filepath.Join(c.dir, top, s.Name()))
		for _, f := range files {
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
