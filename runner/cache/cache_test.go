package cache

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func actionID(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// writeTree writes files (path -> content) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o666); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTreeHashCanonical(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	writeTree(t, a, map[string]string{"x.json": "1", "sub/y.bin": "22", "z": ""})
	// Same content written in another order with other mtimes.
	writeTree(t, b, map[string]string{"z": ""})
	time.Sleep(10 * time.Millisecond)
	writeTree(t, b, map[string]string{"sub/y.bin": "22", "x.json": "1"})
	sa, err := TreeHash(a)
	if err != nil {
		t.Fatal(err)
	}
	sb, _ := TreeHash(b)
	if sa.ID != sb.ID || sa.Size != 3 || sa.Files != 3 {
		t.Fatalf("tree hashes differ or wrong size: %+v %+v", sa, sb)
	}
	tests := []struct {
		name   string
		mutate func(dir string)
	}{
		{"content", func(d string) { os.WriteFile(filepath.Join(d, "x.json"), []byte("2"), 0o666) }},
		{"rename", func(d string) { os.Rename(filepath.Join(d, "z"), filepath.Join(d, "w")) }},
		{"empty dir", func(d string) { os.Mkdir(filepath.Join(d, "e"), 0o777) }},
		{"extra file", func(d string) { os.WriteFile(filepath.Join(d, "sub", "n"), nil, 0o666) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := t.TempDir()
			writeTree(t, d, map[string]string{"x.json": "1", "sub/y.bin": "22", "z": ""})
			tt.mutate(d)
			s, err := TreeHash(d)
			if err != nil {
				t.Fatal(err)
			}
			if s.ID == sa.ID {
				t.Fatalf("mutation %q not detected", tt.name)
			}
		})
	}
	// Symlinks are rejected.
	d := t.TempDir()
	os.Symlink("/etc/passwd", filepath.Join(d, "l"))
	if _, err := TreeHash(d); err == nil {
		t.Fatal("symlink accepted")
	}
}

func TestPutGet(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := actionID("stage-1")
	if _, err := c.Get(a); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get on empty cache: %v", err)
	}
	if _, ok := c.Lookup(a); ok {
		t.Fatal("Lookup hit on empty cache")
	}
	src := t.TempDir() + "/out"
	writeTree(t, src, map[string]string{"a.txt": "hello", "d/b.txt": "world"})
	want, _ := TreeHash(src)
	e, err := c.Put(a, src, Meta{Stage: "data/base", Kind: "data", Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if e.OutputID != want.ID {
		t.Fatalf("output id %s, want %s", e.OutputID, want.ID)
	}
	if _, err := os.Stat(src); !os.IsNotExist(err) {
		t.Fatal("Put did not consume its input directory")
	}
	got, err := c.Get("sha256:" + a)
	if err != nil {
		t.Fatal(err)
	}
	if got.OutputID != e.OutputID || got.Stage != "data/base" || got.Duration != time.Second {
		t.Fatalf("Get = %+v", got)
	}
	if o, ok := c.Lookup(a); !ok || o != e.OutputID {
		t.Fatalf("Lookup = %s %v", o, ok)
	}
	data, err := os.ReadFile(filepath.Join(c.OutputDir(e.OutputID), "d", "b.txt"))
	if err != nil || string(data) != "world" {
		t.Fatalf("stored output: %q %v", data, err)
	}
	// A second action with the same output shares the tree.
	src2 := t.TempDir() + "/out"
	writeTree(t, src2, map[string]string{"a.txt": "hello", "d/b.txt": "world"})
	e2, err := c.Put(actionID("stage-2"), src2, Meta{})
	if err != nil || e2.OutputID != e.OutputID {
		t.Fatalf("shared Put: %v %v", e2, err)
	}
	if n, _ := c.Usage(); n != 2 {
		t.Fatalf("Usage entries = %d", n)
	}
	// Bad IDs never touch the file system.
	for _, bad := range []string{"../../etc", "ABCDEF0123", "xyz", ""} {
		if _, err := c.Get(bad); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q) = %v, want a bad-id error", bad, err)
		}
	}
}

// TestCorruptEntries damages a stored entry in each way a disk or a user
// can, and checks that Get detects it, reports it, removes it, and that the
// stage can then be stored again.
func TestCorruptEntries(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, c *Cache, e *Entry)
		reason string
	}{
		{"output file edited", func(t *testing.T, c *Cache, e *Entry) {
			os.WriteFile(filepath.Join(c.OutputDir(e.OutputID), "a.txt"), []byte("HELLO"), 0o666)
		}, "hashes to"},
		{"output file truncated", func(t *testing.T, c *Cache, e *Entry) {
			os.Truncate(filepath.Join(c.OutputDir(e.OutputID), "d", "b.txt"), 2)
		}, "hashes to"},
		{"output file deleted", func(t *testing.T, c *Cache, e *Entry) {
			os.Remove(filepath.Join(c.OutputDir(e.OutputID), "a.txt"))
		}, "hashes to"},
		{"output tree missing", func(t *testing.T, c *Cache, e *Entry) {
			os.RemoveAll(c.OutputDir(e.OutputID))
		}, "missing"},
		{"index entry half-written", func(t *testing.T, c *Cache, e *Entry) {
			p := c.entryPath(e.ActionID)
			data, _ := os.ReadFile(p)
			os.WriteFile(p, data[:len(data)/2], 0o666)
		}, "malformed"},
		{"index entry edited", func(t *testing.T, c *Cache, e *Entry) {
			p := c.entryPath(e.ActionID)
			data, _ := os.ReadFile(p)
			os.WriteFile(p, []byte(strings.Replace(string(data), `"files": 2`, `"files": 3`, 1)), 0o666)
		}, "checksum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := Open(t.TempDir())
			a := actionID(tt.name)
			src := t.TempDir() + "/out"
			writeTree(t, src, map[string]string{"a.txt": "hello", "d/b.txt": "world"})
			e, err := c.Put(a, src, Meta{Stage: "s"})
			if err != nil {
				t.Fatal(err)
			}
			tt.damage(t, c, e)
			_, err = c.Get(a)
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("Get after damage = %v, want CorruptError", err)
			}
			if !strings.Contains(ce.Reason, tt.reason) {
				t.Errorf("reason %q, want it to mention %q", ce.Reason, tt.reason)
			}
			if _, err := c.Get(a); !errors.Is(err, ErrNotFound) {
				t.Fatalf("damaged entry not removed: %v", err)
			}
			// Rebuild.
			src = t.TempDir() + "/out"
			writeTree(t, src, map[string]string{"a.txt": "hello", "d/b.txt": "world"})
			if _, err := c.Put(a, src, Meta{}); err != nil {
				t.Fatal(err)
			}
			if got, err := c.Get(a); err != nil || got.OutputID != e.OutputID {
				t.Fatalf("rebuilt entry: %v %v", got, err)
			}
		})
	}
}

func TestVerifyAndGC(t *testing.T) {
	c, _ := Open(t.TempDir())
	now := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	c.SetClock(func() time.Time { return now })
	var ids []string
	for i := 0; i < 3; i++ {
		a := actionID(fmt.Sprint("v", i))
		ids = append(ids, a)
		src := t.TempDir() + "/out"
		writeTree(t, src, map[string]string{"f": fmt.Sprint(i)})
		e, err := c.Put(a, src, Meta{Stage: fmt.Sprint("stage", i)})
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			os.WriteFile(filepath.Join(c.OutputDir(e.OutputID), "f"), []byte("x"), 0o666)
		}
	}
	ok, problems, err := c.Verify()
	if ok != 2 || len(problems) != 1 || problems[0].Stage != "stage1" || err != nil {
		t.Fatalf("Verify = %d %+v %v", ok, problems, err)
	}
	// Age entry 0 by ten days; entry 2 stays fresh.
	old := now.Add(-10 * 24 * time.Hour)
	os.Chtimes(c.entryPath(ids[0]), old, old)
	os.MkdirAll(filepath.Join(c.WorkDir(ids[0]), "checkpoints"), 0o777)
	os.Chtimes(c.WorkDir(ids[0]), old, old)
	os.WriteFile(filepath.Join(c.dir, "tmp", "leftover"), nil, 0o666)
	st, err := c.GC(7 * 24 * time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries != 1 || st.Outputs != 1 || st.WorkDirs != 1 || st.TempFiles != 1 || st.KeptEntries != 1 {
		t.Fatalf("GC stats %+v", st)
	}
	if _, err := c.Get(ids[2]); err != nil {
		t.Fatalf("fresh entry lost: %v", err)
	}
	if _, err := c.Get(ids[0]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("old entry kept: %v", err)
	}
	st, err = c.GC(0)
	if err != nil || st.Entries != 1 || st.Outputs != 1 {
		t.Fatalf("GC(0) stats %+v", st)
	}
}

func TestLockWaitsAndCancels(t *testing.T) {
	c, _ := Open(t.TempDir())
	a := actionID("lock")
	l, err := c.LockAction(context.Background(), a, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.TryLockAction(a); ok {
		t.Fatal("TryLockAction succeeded on a held lock")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Millisecond)
	defer cancel()
	waited := false
	if _, err := c.LockAction(ctx, a, func() { waited = true }); !errors.Is(err, context.DeadlineExceeded) || !waited {
		t.Fatalf("LockAction on held lock: %v waited=%v", err, waited)
	}
	done := make(chan struct{})
	go func() {
		l2, err := c.LockAction(context.Background(), a, nil)
		if err == nil {
			l2.Unlock()
		}
		close(done)
	}()
	time.Sleep(100 * time.Millisecond)
	l.Unlock()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("waiter not released by Unlock")
	}
}

// RunOnce is the protocol the executor follows for one stage: reuse a
// verified entry, otherwise take the action lock, look again (another
// runner may have finished it meanwhile), and only then run. It is
// duplicated here so the cache's guarantee can be tested in isolation.
func runOnce(ctx context.Context, c *Cache, a string, run func(dir string) error) (ran bool, e *Entry, err error) {
	if e, err := c.Get(a); err == nil {
		return false, e, nil
	}
	l, err := c.LockAction(ctx, a, nil)
	if err != nil {
		return false, nil, err
	}
	defer l.Unlock()
	if e, err := c.Get(a); err == nil {
		return false, e, nil
	}
	dir := filepath.Join(c.WorkDir(a), "out")
	os.RemoveAll(dir)
	os.MkdirAll(dir, 0o777)
	if err := run(dir); err != nil {
		return true, nil, err
	}
	e, err = c.Put(a, dir, Meta{})
	return true, e, err
}

// TestHelperProcess is the body of a separate runner process for
// TestConcurrentProcesses; it does nothing in a normal test run.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv("CROSSIN_CACHE_HELPER")
	if dir == "" {
		t.Skip("helper process only")
	}
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(os.Getenv("CROSSIN_CACHE_HELPER_N"))
	me := os.Getenv("CROSSIN_CACHE_HELPER_ID")
	// Every process works through the same actions in its own order.
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	shift, _ := strconv.Atoi(me)
	for k := range order {
		i := order[(k+shift*3)%n]
		a := actionID(fmt.Sprint("shared-", i))
		ran, e, err := runOnce(context.Background(), c, a, func(out string) error {
			time.Sleep(30 * time.Millisecond) // a stage takes time: make overlaps likely
			return os.WriteFile(filepath.Join(out, "result"), []byte(fmt.Sprint("result ", i)), 0o666)
		})
		if err != nil {
			t.Fatal(err)
		}
		if ran {
			fmt.Printf("RAN %d\n", i)
		}
		data, err := os.ReadFile(filepath.Join(c.OutputDir(e.OutputID), "result"))
		if err != nil || string(data) != fmt.Sprint("result ", i) {
			t.Fatalf("action %d read %q %v", i, data, err)
		}
	}
}

// TestConcurrentProcesses runs several runner processes against one cache
// and checks that every action is run exactly once (no lost, no duplicated
// work) and that every process read the right output.
func TestConcurrentProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	const procs, actions = 4, 12
	var wg sync.WaitGroup
	outs := make([]string, procs)
	errs := make([]error, procs)
	for p := 0; p < procs; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v")
			cmd.Env = append(os.Environ(),
				"CROSSIN_CACHE_HELPER="+dir,
				"CROSSIN_CACHE_HELPER_N="+strconv.Itoa(actions),
				"CROSSIN_CACHE_HELPER_ID="+strconv.Itoa(p))
			out, err := cmd.CombinedOutput()
			outs[p], errs[p] = string(out), err
		}(p)
	}
	wg.Wait()
	runs := map[string]int{}
	for p := 0; p < procs; p++ {
		if errs[p] != nil {
			t.Fatalf("process %d: %v\n%s", p, errs[p], outs[p])
		}
		sc := bufio.NewScanner(strings.NewReader(outs[p]))
		for sc.Scan() {
			if s, ok := strings.CutPrefix(sc.Text(), "RAN "); ok {
				runs[s]++
			}
		}
	}
	var keys []string
	for k, n := range runs {
		if n != 1 {
			t.Errorf("action %s ran %d times", k, n)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(runs) != actions {
		t.Errorf("%d actions ran, want %d: %v", len(runs), actions, keys)
	}
	c, _ := Open(dir)
	if ok, problems, err := c.Verify(); ok != actions || len(problems) != 0 || err != nil {
		t.Errorf("Verify after concurrent runs: %d ok, %v, %v", ok, problems, err)
	}
}

// TestGCRemovesInterruptedWrites leaves what a crash in the middle of each
// kind of write leaves behind and checks that gc removes all of it, and
// nothing else.
func TestGCRemovesInterruptedWrites(t *testing.T) {
	c, _ := Open(t.TempDir())
	a := actionID("kept")
	src := t.TempDir() + "/out"
	writeTree(t, src, map[string]string{"f": "x"})
	if _, err := c.Put(a, src, Meta{Stage: "kept"}); err != nil {
		t.Fatal(err)
	}
	if err := c.PutLog(a, []byte("log")); err != nil {
		t.Fatal(err)
	}
	shard := filepath.Dir(c.entryPath(a))
	// The names atomicfile gives its temporary files.
	strays := []string{
		filepath.Join(shard, "."+a+".tmp123456"),
		filepath.Join(shard, "."+a+".log.tmp42"),
		filepath.Join(c.dir, ".README.tmp777"),
		filepath.Join(c.dir, "records", ".train%2Fx.json.tmp9"),
		filepath.Join(c.dir, "hashes", "ab", ".abcdef.tmp1"),
		filepath.Join(c.dir, ".pull-123", "out", "f"),
	}
	for _, p := range strays {
		writeTree(t, filepath.Dir(p), map[string]string{filepath.Base(p): "half"})
	}
	st, err := c.GC(24 * time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strays {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("gc left %s", p)
		}
	}
	if st.TempFiles != len(strays) {
		t.Errorf("TempFiles = %d, want %d", st.TempFiles, len(strays))
	}
	if _, err := c.Get(a); err != nil {
		t.Fatalf("gc removed a live entry: %v", err)
	}
	if _, err := os.Stat(c.LogPath(a)); err != nil {
		t.Errorf("gc removed a live log: %v", err)
	}
}

// TestListReportsCorruptAndUnreadable checks that List neither drops a
// damaged entry silently nor takes an unreadable index shard for empty.
func TestListReportsCorruptAndUnreadable(t *testing.T) {
	c, _ := Open(t.TempDir())
	good, bad := actionID("good"), actionID("bad")
	for _, a := range []string{good, bad} {
		src := t.TempDir() + "/out"
		writeTree(t, src, map[string]string{"f": a})
		if _, err := c.Put(a, src, Meta{Stage: a[:4]}); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(c.entryPath(bad), []byte("{garbage"), 0o666)
	entries, errs := c.List()
	if len(entries) != 1 || entries[0].ActionID != good {
		t.Fatalf("List entries = %v", entries)
	}
	var ce *CorruptError
	if len(errs) != 1 || !errors.As(errs[0], &ce) || ce.ActionID != bad {
		t.Fatalf("List errors = %v, want the corrupt entry %s", errs, bad[:12])
	}
	if _, err := os.Stat(c.entryPath(bad)); err != nil {
		t.Errorf("List removed the corrupt entry (only verify and get may): %v", err)
	}
	// An index shard that cannot be read (permissions, I/O) is an error
	// in List, Verify and GC, never an empty shard.
	shard := filepath.Dir(c.entryPath(good))
	osReadDir = func(dir string) ([]os.DirEntry, error) {
		if dir == shard {
			return nil, &os.PathError{Op: "open", Path: dir, Err: syscall.EIO}
		}
		return os.ReadDir(dir)
	}
	defer func() { osReadDir = os.ReadDir }()
	for name, errOf := range map[string]func() error{
		"List":   func() error { _, errs := c.List(); return errors.Join(errs...) },
		"Verify": func() error { _, _, err := c.Verify(); return err },
		"GC":     func() error { _, err := c.GC(time.Hour); return err },
	} {
		if err := errOf(); !errors.Is(err, syscall.EIO) {
			t.Errorf("%s with an unreadable shard: error %v, want EIO", name, err)
		}
	}
	if _, err := c.Get(good); err != nil {
		t.Errorf("good entry lost: %v", err)
	}
}

// TestUseReadOnly: the shared lock a runner takes needs no write access.
func TestUseReadOnly(t *testing.T) {
	c, _ := Open(t.TempDir())
	openFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		if flag&(os.O_RDWR|os.O_WRONLY|os.O_CREATE) != 0 {
			return nil, &os.PathError{Op: "open", Path: name, Err: syscall.EROFS}
		}
		return os.OpenFile(name, flag, perm)
	}
	defer func() { openFile = os.OpenFile }()
	// No gc.lock and none can be created: nothing can gc either.
	l, err := c.Use(context.Background())
	if err != nil {
		t.Fatalf("Use on a read-only cache without gc.lock: %v", err)
	}
	l.Unlock()
	// An existing gc.lock is opened read-only and really locked: gc
	// (exclusive) must wait for the reader.
	openFile = os.OpenFile
	x, _ := c.Exclusive(context.Background(), nil)
	x.Unlock()
	openFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		if flag&(os.O_RDWR|os.O_WRONLY|os.O_CREATE) != 0 {
			return nil, &os.PathError{Op: "open", Path: name, Err: syscall.EACCES}
		}
		return os.OpenFile(name, flag, perm)
	}
	l, err = c.Use(context.Background())
	if err != nil || l.f == nil {
		t.Fatalf("Use on a read-only cache with gc.lock: %v (locked: %v)", err, l != nil && l.f != nil)
	}
	defer l.Unlock()
	openFile = os.OpenFile
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if x, err := c.Exclusive(ctx, nil); err == nil {
		x.Unlock()
		t.Fatal("gc took the exclusive lock while a read-only runner held the shared one")
	}
}
