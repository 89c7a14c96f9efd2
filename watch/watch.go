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
	// They were shown as the stages started (Live.Line); here they go
	// into the "result" event.
	Reruns []string
	// Inputs are the files the spec reads (spec files and local data
	// files); the watcher follows them from the next change on.
	Inputs []string
}

// Step re-plans and runs what is stale, reporting as it goes through live.
// It must stop promptly when ctx is cancelled (a newer edit arrived) and
// leave nothing half-written. An error (an invalid spec, a failed stage)
// is shown and the last good table is kept.
type Step func(ctx context.Context, live *Live) (*Result, error)

// Live is where a running step reports, so that a re-run that takes
// minutes is not a silent screen: permanent lines (a stage starts, and
// why) and a progress line of the stages running now. A step that was
// cancelled by a newer edit is muted, so its last words do not mix with
// the next run's.
type Live struct {
	w *output
	// muted is set (under w.mu) when the step is superseded.
	muted bool
}

// NewLive returns a Live that writes to w (progress in place when
// terminal is set), for using a Step outside Run.
func NewLive(w io.Writer, terminal bool) *Live {
	return &Live{w: &output{w: w, term: terminal}}
}

// Line prints a permanent line (for example "run train/x: why").
func (l *Live) Line(s string) {
	l.w.mu.Lock()
	defer l.w.mu.Unlock()
	if l.muted {
		return
	}
	l.w.clearProgress()
	fmt.Fprintln(l.w.w, s)
}

// Progress shows what is running now. On a terminal it replaces the
// previous progress line in place; otherwise it is printed as a line at
// most every progressEvery, so that a log is not flooded.
func (l *Live) Progress(s string) {
	l.w.mu.Lock()
	defer l.w.mu.Unlock()
	if l.muted || s == "" {
		return
	}
	if l.w.term {
		fmt.Fprintf(l.w.w, "\r\x1b[K%s", s)
		l.w.progress = true
		return
	}
	if now := time.Now(); now.Sub(l.w.lastProgress) >= progressEvery {
		l.w.lastProgress = now
		fmt.Fprintln(l.w.w, s)
	}
}

// progressEvery is how often progress is printed when not on a terminal.
const progressEvery = 2 * time.Second

// output serializes everything the watcher and its steps print.
type output struct {
	mu           sync.Mutex
	w            io.Writer
	term         bool      // a terminal: progress is redrawn in place
	progress     bool      // a progress line is on screen (term only)
	lastProgress time.Time // when progress was last printed (not term)
}

// clearProgress removes the progress line from a terminal; mu is held.
func (o *output) clearProgress() {
	if o.progress {
		fmt.Fprint(o.w, "\r\x1b[K")
		o.progress = false
	}
}

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

// WithClearScreen redraws the screen on every refresh and the progress
// line in place (for terminals).
func WithClearScreen(on bool) Option { return func(c *config) { c.clear = on } }

// WithEvents receives every Event as it happens.
func WithEvents(f func(Event)) Option { return func(c *config) { c.events = f } }

// Run runs step once, then again after every relevant change under roots
// (spec files or directories; directories are watched recursively and
// their .cue files count) or to an input file reported by the last step.
// It returns when ctx is cancelled (Ctrl-C), after the step in flight has
// stopped.
//
// While a re-run is in flight the last table stays on screen marked stale
// (it predates the edit), the step's lines and progress appear as they
// happen, and an edit that cancels the run in flight says so.
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

	out := &output{w: c.out, term: c.clear}
	var (
		lastGood   *Result
		lastErr    error
		inflight   context.CancelFunc
		live       *Live
		done       chan bool // the step in flight ends: true if it completed, false if superseded
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
	// show draws the last good table and the watcher's status; stale
	// names the edit the table predates (nil: the table is current).
	// out.mu is held.
	show := func(stale []string) {
		out.clearProgress()
		if c.clear {
			fmt.Fprint(c.out, "\x1b[H\x1b[2J")
		}
		if lastGood != nil {
			if stale != nil && c.clear {
				// Only on a redrawn screen is the table reprinted; a log
				// gets the stale line below alone.
				fmt.Fprintf(c.out, "STALE (before the edit to %s):\n", names(stale))
			}
			if stale == nil || c.clear {
				fmt.Fprint(c.out, lastGood.Table)
				if !strings.HasSuffix(lastGood.Table, "\n") {
					fmt.Fprintln(c.out)
				}
			}
		}
		if stale != nil {
			fmt.Fprintf(c.out, "%s changed: the table above is stale; re-running what it affects...\n", names(stale))
			return
		}
		if lastErr != nil {
			fmt.Fprintf(c.out, "error (showing the last good table): %v\n", lastErr)
		}
		fmt.Fprintf(c.out, "watching %d files; Ctrl-C to stop\n", w.count())
	}
	start := func(changed []string, since time.Time) {
		if inflight != nil {
			// Mute first, so nothing the superseded step says on its way
			// out appears.
			out.mu.Lock()
			live.muted = true
			out.clearProgress()
			out.mu.Unlock()
			inflight()
			if completed := <-done; !completed {
				out.mu.Lock()
				fmt.Fprintf(c.out, "cancelled the run in progress: a newer edit to %s supersedes it\n", names(changed))
				out.mu.Unlock()
				emit(Event{Kind: "cancelled", Paths: changed})
			}
		}
		if changed != nil {
			out.mu.Lock()
			show(changed)
			out.mu.Unlock()
		}
		sctx, cancel := context.WithCancel(ctx)
		l := &Live{w: out}
		inflight, live, done = cancel, l, make(chan bool, 1)
		d := done
		go func() {
			res, err := step(sctx, l)
			if sctx.Err() != nil && ctx.Err() == nil {
				d <- false
				return // superseded by a newer change; its step reports
			}
			out.mu.Lock()
			if err != nil {
				lastErr = err
			} else {
				lastErr, lastGood = nil, res
				w.setInputs(res.Inputs)
			}
			show(nil)
			out.mu.Unlock()
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
			d <- true
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

// names lists changed paths for a message, relative to the working
// directory where they are inside it.
func names(paths []string) string {
	cwd, _ := os.Getwd()
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = p
		if rel, err := filepath.Rel(cwd, p); err == nil && !strings.HasPrefix(rel, "..") {
			out[i] = rel
		}
	}
	if len(out) > 3 {
		return strings.Join(out[:3], ", ") + fmt.Sprintf(" and %d more", len(out)-3)
	}
	return strings.Join(out, ", ")
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
