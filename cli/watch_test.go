package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crossin-lab/crossin/internal/syncbuf"
	"github.com/crossin-lab/crossin/runner"
	"github.com/crossin-lab/crossin/watch"
)

// waitFor polls out until it contains want after offset, and returns the
// offset just past the match.
func waitFor(t *testing.T, out *syncbuf.Buffer, from int, want string, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		s := out.String()
		if i := strings.Index(s[from:], want); i >= 0 {
			return from + i + len(want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %q in output within %v; output after offset %d:\n%s", want, timeout, from, out.String()[from:])
	return 0
}

// TestWatchRerunsWhatAnEditMadeStale drives `crossin watch` on the runner's
// miniature experiment with the real engine: a training parameter edit
// re-runs that cell and says why, an invalid edit keeps the last table and
// shows the error with its position, and fixing it resumes.
func TestWatchRerunsWhatAnEditMadeStale(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	work := t.TempDir()
	t.Setenv("CROSSIN_CACHE", filepath.Join(work, "cache"))
	specDir := miniSpec(t, work)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncbuf.Buffer{}
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"watch", specDir, "-o", filepath.Join(work, "out"), "--debounce", "50ms"},
			strings.NewReader(""), out, io.Discard)
	}()
	off := waitFor(t, out, 0, "watching", 5*time.Minute)

	// A training parameter of one cell changes: that cell re-runs, and the
	// line says why.
	override := filepath.Join(specDir, "override.cue")
	before := off
	os.WriteFile(override, []byte("package mini\n\nexperiments: mini: cells: \"mini/x2x-20/s42\": training: learning_rate: 2e-3\n"), 0o644)
	off = waitFor(t, out, off, "run train/mini/x2x-20/s42: train.learning_rate: 0.001 -> 0.002", 3*time.Minute)
	off = waitFor(t, out, off, "watching", time.Minute)
	if strings.Contains(out.String()[before:off], "run train/mini/base-20") {
		t.Errorf("an unaffected cell re-ran")
	}

	// Into an invalid state, by atomic rename: the error with its position,
	// the last good table kept.
	tmp := override + ".tmp"
	os.WriteFile(tmp, []byte("package mini\n\nexperiments: mini: cells: \"mini/x2x-20/s42\": training: learning_rate: \"fast\"\n"), 0o644)
	os.Rename(tmp, override)
	off = waitFor(t, out, off, "error (showing the last good table)", time.Minute)
	if !strings.Contains(out.String()[max(off-600, 0):], "override.cue:3:") {
		t.Errorf("error lacks the position override.cue:3:\n%s", out.String()[max(off-600, 0):])
	}

	// Fixed again: the table comes back; nothing needs to run (it is the
	// same learning rate as before the error).
	t0 := time.Now()
	os.WriteFile(override, []byte("package mini\n\nexperiments: mini: cells: \"mini/x2x-20/s42\": training: learning_rate: 2e-3\n"), 0o644)
	off = waitFor(t, out, off, "Accuracy, consistency and AC3", time.Minute)
	waitFor(t, out, off, "watching", time.Minute)
	t.Logf("save to refreshed table with a warm cache: %v (debounce 50ms)", time.Since(t0))

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("watch exited %d", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("watch did not stop after cancel")
	}
}

// TestWatchProgressLines: while a re-run is in flight, watch prints why
// each stage runs as it starts (execution order, once each, even when a
// stage is retried), failures, and the progress of the running stages.
func TestWatchProgressLines(t *testing.T) {
	var out bytes.Buffer
	w := newWatchProgress(watch.NewLive(&out, true), map[string]string{
		"train/b": "train.learning_rate: 0.001 -> 0.002",
		"eval/b":  "upstream changed: train/b",
	})
	for _, e := range []runner.Event{
		{Type: runner.EvPlan, Total: 3},
		{Type: runner.EvStart, Stage: "train/b"},
		{Type: runner.EvProgress, Stage: "train/b", Done: 4, StageTotal: 10, ETA: 12},
		{Type: runner.EvStart, Stage: "data/a"},
		{Type: runner.EvDone, Stage: "train/b"},
		{Type: runner.EvStart, Stage: "eval/b"},
		{Type: runner.EvFailed, Stage: "eval/b", Error: "boom"},
		{Type: runner.EvStart, Stage: "eval/b"}, // a retry starts again
		{Type: runner.EvDone, Stage: "eval/b"},
	} {
		w.event(e)
	}
	want := []string{
		"run train/b: train.learning_rate: 0.001 -> 0.002",
		"run data/a: not in the cache",
		"run eval/b: upstream changed: train/b",
	}
	if strings.Join(w.lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("reasons:\n%s\nwant:\n%s", strings.Join(w.lines, "\n"), strings.Join(want, "\n"))
	}
	o := out.String()
	if !strings.Contains(o, "\r\x1b[Krunning: train/b 40% (4/10) eta 12s") {
		t.Errorf("no live progress of the running stage:\n%q", o)
	}
	for _, l := range append(want, "failed eval/b: boom") {
		if strings.Count(o, l) != 1 {
			t.Errorf("%q printed %d times, want once:\n%s", l, strings.Count(o, l), o)
		}
	}
	if strings.Index(o, want[0]) > strings.Index(o, want[1]) || strings.Index(o, want[1]) > strings.Index(o, want[2]) {
		t.Errorf("reasons not in execution order:\n%s", o)
	}
}
