package watch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeStep stands in for plan+run: it "validates" the spec (a file whose
// content must start with "ok:") and renders the content as the table.
type fakeStep struct {
	spec   string
	data   string
	mu     sync.Mutex
	calls  int
	tables []string
}

func (f *fakeStep) step(ctx context.Context, live *Live) (*Result, error) {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	b, err := os.ReadFile(f.spec)
	if err != nil {
		return nil, err
	}
	s := strings.TrimSpace(string(b))
	if !strings.HasPrefix(s, "ok:") {
		return nil, fmt.Errorf("%s:1:1: expected \"ok:\"", f.spec)
	}
	d, _ := os.ReadFile(f.data)
	table := "TABLE " + s + " DATA " + strings.TrimSpace(string(d))
	f.mu.Lock()
	f.tables = append(f.tables, table)
	f.mu.Unlock()
	return &Result{Table: table, Reruns: []string{"train/x: re-run: spec changed"}, Inputs: []string{f.data}}, nil
}

// events collects watcher events for assertions.
type events struct {
	ch chan Event
}

func (e *events) wait(t *testing.T, kind string) Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-e.ch:
			if ev.Kind == kind {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %q event within 10s", kind)
		}
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestWatchEdits(t *testing.T) {
	dir := t.TempDir()
	specDir := filepath.Join(dir, "experiments")
	os.MkdirAll(specDir, 0o755)
	spec := filepath.Join(specDir, "exp.cue")
	data := filepath.Join(dir, "data.jsonl")
	os.WriteFile(spec, []byte("ok: 1\n"), 0o644)
	os.WriteFile(data, []byte("d1\n"), 0o644)

	fs := &fakeStep{spec: spec, data: data}
	ev := &events{ch: make(chan Event, 100)}
	out := &syncBuf{}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- Run(ctx, []string{specDir}, fs.step, WithOutput(out), WithDebounce(50*time.Millisecond),
			WithEvents(func(e Event) { ev.ch <- e }))
	}()
	ev.wait(t, "result")
	time.Sleep(50 * time.Millisecond) // let the data file's directory be added

	var latencies []string
	check := func(name, wantTable string) {
		t.Helper()
		e := ev.wait(t, "result")
		latencies = append(latencies, name+"="+e.Latency)
		if !strings.Contains(out.String(), wantTable) {
			t.Fatalf("%s: output lacks %q:\n%s", name, wantTable, out.String())
		}
		if len(e.Reruns) == 0 {
			t.Errorf("%s: no re-run lines", name)
		}
	}

	// 1. Edit in place (several writes in a burst count once).
	f, _ := os.OpenFile(spec, os.O_WRONLY|os.O_TRUNC, 0)
	f.WriteString("ok: ")
	f.Sync()
	f.WriteString("2\n")
	f.Close()
	check("in-place", "TABLE ok: 2")

	// 2. Atomic rename save (most editors).
	tmp := filepath.Join(specDir, ".exp.cue.tmp")
	os.WriteFile(tmp, []byte("ok: 3\n"), 0o644)
	os.Rename(tmp, spec)
	check("rename", "TABLE ok: 3")

	// 3. vim-style: rename the original away, create and write a new file.
	os.Rename(spec, spec+"~")
	os.WriteFile(spec, []byte("ok: 4\n"), 0o644)
	os.Remove(spec + "~")
	check("vim", "TABLE ok: 4")

	// 4. Into an invalid state: the error shows with its position and the
	// last good table is kept.
	os.WriteFile(spec, []byte("broken\n"), 0o644)
	e := ev.wait(t, "error")
	if !strings.Contains(e.Error, "exp.cue:1:1") {
		t.Errorf("error lacks position: %q", e.Error)
	}
	o := out.String()
	tail := o[strings.LastIndex(o, "TABLE"):]
	if !strings.HasPrefix(tail, "TABLE ok: 4") || !strings.Contains(tail, "error (showing the last good table)") {
		t.Errorf("last good table not kept after error:\n%s", tail)
	}

	// 5. And back.
	os.WriteFile(spec, []byte("ok: 5\n"), 0o644)
	check("fixed", "TABLE ok: 5")

	// 6. A data file the spec reads.
	os.WriteFile(data, []byte("d2\n"), 0o644)
	check("data", "DATA d2")

	// 7. A new folder with a spec file in it.
	sub := filepath.Join(specDir, "more")
	os.Mkdir(sub, 0o755)
	ev.wait(t, "result") // the new directory itself counts as a change
	os.WriteFile(filepath.Join(sub, "x.cue"), []byte("x\n"), 0o644)
	ev.wait(t, "result")

	// Irrelevant files do not trigger a run.
	fs.mu.Lock()
	before := fs.calls
	fs.mu.Unlock()
	os.WriteFile(filepath.Join(specDir, "notes.txt"), []byte("hi"), 0o644)
	time.Sleep(300 * time.Millisecond)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.calls != before {
		t.Errorf("a non-spec file triggered a run")
	}

	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	t.Logf("save-to-refresh latencies (debounce 50ms, trivial step): %s", strings.Join(latencies, " "))
}

func TestWatchCancelsObsoleteRun(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "a.cue")
	os.WriteFile(spec, []byte("v1"), 0o644)
	var mu sync.Mutex
	var cancelled, finished []string
	started := make(chan string, 10)
	step := func(ctx context.Context, _ *Live) (*Result, error) {
		b, _ := os.ReadFile(spec)
		v := string(b)
		started <- v
		if v == "v1" { // the first run is fast
			return &Result{Table: v}, nil
		}
		select {
		case <-ctx.Done():
			mu.Lock()
			cancelled = append(cancelled, v)
			mu.Unlock()
			return nil, ctx.Err()
		case <-time.After(func() time.Duration {
			if v == "v2" {
				return 5 * time.Second
			}
			return 0
		}()):
		}
		mu.Lock()
		finished = append(finished, v)
		mu.Unlock()
		return &Result{Table: v}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	ev := &events{ch: make(chan Event, 100)}
	go Run(ctx, []string{spec}, step, WithDebounce(30*time.Millisecond), WithEvents(func(e Event) { ev.ch <- e }))
	<-started
	ev.wait(t, "result")
	os.WriteFile(spec, []byte("v2"), 0o644)
	if v := <-started; v != "v2" {
		t.Fatalf("started %q", v)
	}
	os.WriteFile(spec, []byte("v3"), 0o644)
	ev.wait(t, "cancelled")
	ev.wait(t, "result")
	cancel()
	mu.Lock()
	defer mu.Unlock()
	if len(cancelled) != 1 || cancelled[0] != "v2" || len(finished) != 1 || finished[0] != "v3" {
		t.Errorf("cancelled %v finished %v, want v2 cancelled and v3 finished", cancelled, finished)
	}
}

func TestWatchMissingRoot(t *testing.T) {
	err := Run(context.Background(), []string{"/nonexistent/x.cue"}, func(context.Context, *Live) (*Result, error) { return nil, errors.New("x") })
	if err == nil || !strings.Contains(err.Error(), "nonexistent") {
		t.Fatalf("err = %v", err)
	}
}

// TestWatchShowsWhatARerunDoes: after an edit the old table is marked
// stale at once, each stage's reason and the progress of the stages
// running appear while the step runs (each line once, in the order the
// step reports them), and an edit that cancels the run says so.
func TestWatchShowsWhatARerunDoes(t *testing.T) {
	for _, term := range []bool{false, true} {
		t.Run(fmt.Sprintf("terminal=%v", term), func(t *testing.T) {
			dir := t.TempDir()
			spec := filepath.Join(dir, "a.cue")
			os.WriteFile(spec, []byte("v1"), 0o644)
			release := make(chan struct{})
			step := func(ctx context.Context, live *Live) (*Result, error) {
				b, _ := os.ReadFile(spec)
				v := string(b)
				if v == "v1" {
					return &Result{Table: "TABLE v1\n"}, nil
				}
				live.Line("run train/b: " + v + " changed")
				live.Line("run train/a: " + v + " changed")
				live.Progress("train/a 40% step 4/10")
				select {
				case <-ctx.Done():
					live.Line("MUTED LINE " + v) // superseded: must not show
					return nil, ctx.Err()
				case <-release:
				}
				return &Result{Table: "TABLE " + v + "\n", Reruns: []string{"run train/b: " + v + " changed", "run train/a: " + v + " changed"}}, nil
			}
			out := &syncBuf{}
			ev := &events{ch: make(chan Event, 100)}
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() {
				errc <- Run(ctx, []string{spec}, step, WithOutput(out), WithClearScreen(term), WithDebounce(30*time.Millisecond),
					WithEvents(func(e Event) { ev.ch <- e }))
			}()
			ev.wait(t, "result")
			os.WriteFile(spec, []byte("v2"), 0o644)
			waitOut(t, out, "train/a 40% step 4/10")
			o := out.String()
			stale := strings.Index(o, "changed: the table above is stale")
			b, a := strings.Index(o, "run train/b: v2 changed"), strings.Index(o, "run train/a: v2 changed")
			if stale < 0 || b < stale || a < b {
				t.Fatalf("want the stale mark, then the reasons in execution order:\n%s", o)
			}
			if term && !strings.Contains(o, "STALE (before the edit to") {
				t.Errorf("the redrawn screen does not mark the old table stale:\n%q", o)
			}
			if term && !strings.Contains(o, "\r\x1b[Ktrain/a 40%") {
				t.Errorf("progress is not redrawn in place on a terminal:\n%q", o)
			}
			// A newer edit cancels the run in flight, and says so.
			os.WriteFile(spec, []byte("v3"), 0o644)
			waitOut(t, out, "cancelled the run in progress: a newer edit to")
			waitOut(t, out, "run train/a: v3 changed")
			close(release)
			ev.wait(t, "result")
			waitOut(t, out, "TABLE v3")
			cancel()
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			o = out.String()
			if strings.Contains(o, "MUTED LINE") {
				t.Errorf("a cancelled step's output was shown:\n%s", o)
			}
			if n := strings.Count(o, "run train/a: v3 changed"); n != 1 {
				t.Errorf("the reason is printed %d times, want once:\n%s", n, o)
			}
		})
	}
}

func waitOut(t *testing.T, out *syncBuf, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(out.String(), want) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %q in the output within 10s:\n%q", want, out.String())
}
