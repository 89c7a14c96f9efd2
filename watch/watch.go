// Package watch re-runs an experiment while its spec and data are edited:
// it watches the spec files and the local data files they reference, and
// after each change (debounced, so an editor's burst of writes or an
// atomic-rename save counts once) re-plans, runs only the stale stages and
// refreshes the table.
//
// The planning and running is injected as a Step, so this package knows
// nothing of CUE or the runner; cli/watch.go wires the real ones.
package watch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Result is what one step produced.
type Result struct {
	// Table is the refreshed comparison table, as it should be shown.
	Table string
	// Reruns has one line per stage that ran, saying why (explain output).
	Reruns []string
	// Inputs are the files the spec reads (spec files and local data
	// files); the watcher follows them from the next change on.
	Inputs []string
}

// Step re-plans and runs what is stale. It must stop promptly when ctx is
// cancelled (a newer edit arrived) and leave nothing half-written. An
// error (an invalid spec, a failed stage) is shown and the last good table
// is kept.
type Step func(ctx context.Context) (*Result, error)

// Event reports what the watcher did; tests and --json output use it.
type Event struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"` // "change", "result", "error", "cancelled"
	Paths   []string  `json:"paths,omitempty"`
	Reruns  []string  `json:"reruns,omitempty"`
	Error   string    `json:"error,omitempty"`
	Latency string    `json:"latency,omitempty"` // first change seen -> result shown
}

// Option configures Run.
type Option func(*config)

type config struct {
	debounce time.Duration
	out      io.Writer
	clear    bool
	events   func(Event)
}

// WithDebounce sets how long the watcher waits for a burst of file events
// to end before acting (default 100ms).
func WithDebounce(d time.Duration) Option { return func(c *config) { c.debounce = d } }

// WithOutput sets where the table and re-run lines are written.
func WithOutput(w io.Writer) Option { return func(c *config) { c.out = w } }

// WithClearScreen redraws the screen on every refresh (for terminals).
func WithClearScreen(on bool) Option { return func(c *config) { c.clear = on } }

// WithEvents receives every Event as it happens.
func WithEvents(f func(Event)) Option { return func(c *config) { c.events = f } }

// Run runs step once, then again after every relevant change under roots
// (spec files or directories; directories are watched recursively and
// their .cue files count) or to an input file reported by the last step.
// It returns when ctx is cancelled (Ctrl-C), after the step in flight has
// stopped.
func Run(ctx context.Context, roots []string, step Step, opts ...Option) error {
	c := &config{debounce: 100 * time.Millisecond, out: io.Discard}
	for _, o := range opts {
		o(c)
	}
	w, err := newWatcher(roots)
	if err != nil {
		return err
	}
	defer w.fs.Close()

	var (
		lastGood   *Result
		lastErr    error
		inflight   context.CancelFunc
		done       chan struct{}
		mu         sync.Mutex
		firstSeen  time.Time
		pending    []string
		debounceCh <-chan time.Time
	)
	emit := func(e Event) {
		e.Time = time.Now()
		if c.events != nil {
			c.events(e)
		}
	}
	show := func() {
		mu.Lock()
		defer mu.Unlock()
		if c.clear {
			fmt.Fprint(c.out, "\x1b[H\x1b[2J")
		}
		if lastGood != nil {
			fmt.Fprint(c.out, lastGood.Table)
			if !strings.HasSuffix(lastGood.Table, "\n") {
				fmt.Fprintln(c.out)
			}
		}
		if lastErr != nil {
			fmt.Fprintf(c.out, "error (showing the last good table): %v\n", lastErr)
		}
		fmt.Fprintf(c.out, "watching %d files; Ctrl-C to stop\n", w.count())
	}
	start := func(changed []string, since time.Time) {
		if inflight != nil {
			inflight()
			<-done
			emit(Event{Kind: "cancelled"})
		}
		sctx, cancel := context.WithCancel(ctx)
		inflight, done = cancel, make(chan struct{})
		d := done
		go func() {
			defer close(d)
			res, err := step(sctx)
			if sctx.Err() != nil && ctx.Err() == nil {
				return // superseded by a newer change; its step reports
			}
			mu.Lock()
			if err != nil {
				lastErr = err
			} else {
				lastErr, lastGood = nil, res
				w.setInputs(res.Inputs)
			}
			mu.Unlock()
			if err == nil {
				for _, line := range res.Reruns {
					fmt.Fprintln(c.out, line)
				}
			}
			show()
			e := Event{Kind: "result", Paths: changed}
			if err != nil {
				e = Event{Kind: "error", Paths: changed, Error: err.Error()}
			} else {
				e.Reruns = res.Reruns
			}
			if !since.IsZero() {
				e.Latency = time.Since(since).Round(time.Millisecond).String()
			}
			emit(e)
		}()
	}

	start(nil, time.Time{})
	for {
		select {
		case <-ctx.Done():
			if inflight != nil {
				inflight()
				<-done
			}
			return nil
		case ev, ok := <-w.fs.Events:
			if !ok {
				return errors.New("watch: file watcher closed")
			}
			if w.handle(ev) {
				if len(pending) == 0 {
					firstSeen = time.Now()
				}
				pending = append(pending, ev.Name)
				debounceCh = time.After(c.debounce)
			}
		case err, ok := <-w.fs.Errors:
			if !ok {
				return errors.New("watch: file watcher closed")
			}
			emit(Event{Kind: "error", Error: err.Error()})
		case <-debounceCh:
			debounceCh = nil
			changed := uniqueSorted(pending)
			pending = nil
			emit(Event{Kind: "change", Paths: changed})
			start(changed, firstSeen)
		}
	}
}

// watcher tracks which directories are watched and which paths matter.
type watcher struct {
	fs      *fsnotify.Watcher
	mu      sync.Mutex
	roots   []string        // absolute directories watched recursively
	files   map[string]bool // absolute files that matter (spec files, inputs)
	watched map[string]bool // directories added to fs
}

func newWatcher(roots []string) (*watcher, error) {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	w := &watcher{fs: fsw, files: map[string]bool{}, watched: map[string]bool{}}
	for _, r := range roots {
		abs, err := filepath.Abs(r)
		if err != nil {
			fsw.Close()
			return nil, err
		}
		st, err := os.Stat(abs)
		if err != nil {
			fsw.Close()
			return nil, fmt.Errorf("watch: %w", err)
		}
		if st.IsDir() {
			w.roots = append(w.roots, abs)
			if err := w.addTree(abs); err != nil {
				fsw.Close()
				return nil, err
			}
		} else {
			w.files[abs] = true
			if err := w.addDir(filepath.Dir(abs)); err != nil {
				fsw.Close()
				return nil, err
			}
		}
	}
	return w, nil
}

// addDir watches one directory. Files are watched through their
// directory, so an editor replacing a file by rename is still seen.
func (w *watcher) addDir(dir string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.watched[dir] {
		return nil
	}
	if err := w.fs.Add(dir); err != nil {
		return fmt.Errorf("watch %s: %w", dir, err)
	}
	w.watched[dir] = true
	return nil
}

// addTree watches dir and every directory below it.
func (w *watcher) addTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil // vanished meanwhile
		}
		if d.IsDir() {
			if p != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return w.addDir(p)
		}
		return nil
	})
}

// setInputs replaces the input files followed besides the roots.
func (w *watcher) setInputs(inputs []string) {
	for _, in := range inputs {
		abs, err := filepath.Abs(in)
		if err != nil {
			continue
		}
		w.mu.Lock()
		w.files[abs] = true
		w.mu.Unlock()
		_ = w.addDir(filepath.Dir(abs))
	}
}

func (w *watcher) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(w.files)
	for d := range w.watched {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".cue") && w.underRoot(filepath.Join(d, e.Name())) && !w.files[filepath.Join(d, e.Name())] {
				n++
			}
		}
	}
	return n
}

func (w *watcher) underRoot(p string) bool {
	for _, r := range w.roots {
		if p == r || strings.HasPrefix(p, r+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// handle updates the watch set for ev and reports whether ev is a change
// that matters: a write, create, rename or removal of a followed file or of
// a .cue file under a root. New directories under a root are watched (and
// count as a change, since they may hold spec files).
func (w *watcher) handle(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	p := filepath.Clean(ev.Name)
	if ev.Op.Has(fsnotify.Create) && w.underRoot(p) {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			_ = w.addTree(p)
			return true
		}
	}
	w.mu.Lock()
	followed := w.files[p]
	w.mu.Unlock()
	if followed {
		return true
	}
	return w.underRoot(p) && strings.HasSuffix(p, ".cue")
}

func uniqueSorted(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
