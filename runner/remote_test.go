package runner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/crossin-lab/crossin/runner/cache"
)

// memRemote is a remote cache in a directory: one subdirectory per action.
type memRemote struct {
	dir    string
	mu     sync.Mutex
	stored int
	fail   error
}

func (r *memRemote) Fetch(ctx context.Context, actionID, dest string) (bool, error) {
	if r.fail != nil {
		return false, r.fail
	}
	src := filepath.Join(r.dir, actionID)
	if _, err := os.Stat(src); err != nil {
		return false, nil
	}
	return true, os.CopyFS(dest, os.DirFS(src))
}

func (r *memRemote) Store(ctx context.Context, actionID, dir string, meta map[string]string) error {
	if r.fail != nil {
		return r.fail
	}
	r.mu.Lock()
	r.stored++
	r.mu.Unlock()
	return os.CopyFS(filepath.Join(r.dir, actionID), os.DirFS(dir))
}

func TestExecuteRemoteCache(t *testing.T) {
	remote := &memRemote{dir: t.TempDir()}
	c1, _ := cache.Open(t.TempDir())
	runs := map[string]*atomic.Int32{}
	s1, err := Execute(context.Background(), diamond(runs, nil, "r"), Options{Cache: c1, Jobs: 2, Remote: remote})
	if err != nil || s1.Err() != nil || s1.Ran != 4 || remote.stored != 4 {
		t.Fatalf("first run: %+v %v, stored %d", s1, err, remote.stored)
	}

	// A fresh local cache: everything comes from the remote, nothing runs,
	// and the outputs are the same.
	c2, _ := cache.Open(t.TempDir())
	runs2 := map[string]*atomic.Int32{}
	var pulled atomic.Int32
	s2, err := Execute(context.Background(), diamond(runs2, nil, "r"), Options{Cache: c2, Jobs: 2, Remote: remote,
		Events: func(ev Event) {
			if ev.Type == EvCached && ev.Remote {
				pulled.Add(1)
			}
		}})
	if err != nil || s2.Err() != nil || s2.Ran != 0 || s2.Cached != 4 || pulled.Load() != 4 {
		t.Fatalf("second run: ran %d cached %d pulled %d, %v", s2.Ran, s2.Cached, pulled.Load(), err)
	}
	for _, n := range []string{"a", "b", "c", "d"} {
		if s2.Results[n].Status != StatusPulled || s2.Results[n].OutputID != s1.Results[n].OutputID {
			t.Errorf("%s: %s %s, want pulled %s", n, s2.Results[n].Status, s2.Results[n].OutputID, s1.Results[n].OutputID)
		}
	}

	// A remote that fails is reported and the stages run locally.
	broken := &memRemote{dir: t.TempDir(), fail: errors.New("registry unreachable")}
	c3, _ := cache.Open(t.TempDir())
	var remoteErrs atomic.Int32
	s3, err := Execute(context.Background(), diamond(map[string]*atomic.Int32{}, nil, "r"), Options{Cache: c3, Jobs: 2, Remote: broken,
		Events: func(ev Event) {
			if ev.Type == EvRemote && ev.Error != "" {
				remoteErrs.Add(1)
			}
		}})
	if err != nil || s3.Err() != nil || s3.Ran != 4 || remoteErrs.Load() != 8 {
		t.Fatalf("broken remote: ran %d, remote errors %d, %v", s3.Ran, remoteErrs.Load(), err)
	}
}
