package cache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Lock is a held flock(2) lock. The kernel releases it when the process
// dies, so a crashed runner never leaves a stage locked.
type Lock struct {
	f *os.File
}

// Unlock releases the lock.
func (l *Lock) Unlock() {
	if l == nil || l.f == nil {
		return
	}
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	_ = l.f.Close()
	l.f = nil
}

// openFile is os.OpenFile; tests replace it to simulate a read-only cache
// (which permissions cannot do for root).
var openFile = os.OpenFile

// lockPollInterval is how often a blocked lock retries; flock cannot be
// interrupted by a context, so waiting is a non-blocking poll.
const lockPollInterval = 50 * time.Millisecond

func lockFile(ctx context.Context, path string, how int, onWait func()) (*Lock, error) {
	f, err := openFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, fmt.Errorf("cache: lock: %w", err)
	}
	return lockOpen(ctx, f, path, how, onWait)
}

// lockOpen locks the open file f (closing it on failure).
func lockOpen(ctx context.Context, f *os.File, path string, how int, onWait func()) (*Lock, error) {
	waited := false
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return &Lock{f: f}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("cache: lock %s: %w", filepath.Base(path), err)
		}
		if !waited && onWait != nil {
			onWait()
		}
		waited = true
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(lockPollInterval):
		}
	}
}

// LockAction takes the exclusive lock of actionID, waiting while another
// goroutine or process holds it. onWait (may be nil) is called once if the
// lock is busy, so the caller can report that it is waiting for another
// runner. After taking the lock the caller must Get again: the holder may
// have just stored the output.
func (c *Cache) LockAction(ctx context.Context, actionID string, onWait func()) (*Lock, error) {
	a := NormalizeID(actionID)
	if err := checkID(a); err != nil {
		return nil, err
	}
	return lockFile(ctx, filepath.Join(c.dir, "locks", a+".lock"), syscall.LOCK_EX, onWait)
}

// TryLockAction takes the lock of actionID if it is free; ok is false when
// another holder has it.
func (c *Cache) TryLockAction(actionID string) (l *Lock, ok bool, err error) {
	a := NormalizeID(actionID)
	if err := checkID(a); err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(filepath.Join(c.dir, "locks", a+".lock"), os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, false, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return &Lock{f: f}, true, nil
}

// Use takes the cache-wide shared lock that a runner holds for its whole
// run, so that gc and rm (which take it exclusively) never delete outputs a
// running stage is reading.
//
// Reading needs no write access: on a cache this process may not write
// (a shared read-only cache, a read-only mount) the lock file is opened
// read-only, which flock(2) allows, and when it does not exist and cannot
// be created there is no gc that could run either, so the run proceeds
// without it.
func (c *Cache) Use(ctx context.Context) (*Lock, error) {
	path := filepath.Join(c.dir, "gc.lock")
	l, err := lockFile(ctx, path, syscall.LOCK_SH, nil)
	if err == nil || !isReadOnly(err) {
		return l, err
	}
	f, oerr := openFile(path, os.O_RDONLY, 0)
	if errors.Is(oerr, fs.ErrNotExist) {
		return &Lock{}, nil
	}
	if oerr != nil {
		return nil, err
	}
	return lockOpen(ctx, f, path, syscall.LOCK_SH, nil)
}

// isReadOnly reports whether err says the file system or the directory
// does not let this process write.
func isReadOnly(err error) bool {
	return errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS)
}

// Exclusive takes the cache-wide lock exclusively (gc, rm).
func (c *Cache) Exclusive(ctx context.Context, onWait func()) (*Lock, error) {
	return lockFile(ctx, filepath.Join(c.dir, "gc.lock"), syscall.LOCK_EX, onWait)
}
