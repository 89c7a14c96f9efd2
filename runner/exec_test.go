package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crossin-lab/crossin/runner/cache"
)

func aid(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// chain builds a diamond a -> (b, c) -> d where each stage writes its name
// plus its inputs' contents, and counts its runs.
func diamond(runs map[string]*atomic.Int32, fail map[string]int, salt string) []*Stage {
	mk := func(name string, deps ...string) *Stage {
		runs[name] = &atomic.Int32{}
		return &Stage{
			Name: name, Kind: "data", ActionID: aid(salt + name), Deps: deps,
			Run: func(ctx context.Context, sc *StageContext) error {
				n := runs[name].Add(1)
				fmt.Fprintf(sc.Log, "running %s\n", name)
				if int(n) <= fail[name] {
					return fmt.Errorf("%s: injected failure %d", name, n)
				}
				var b strings.Builder
				b.WriteString(name)
				for _, d := range deps {
					data, err := os.ReadFile(filepath.Join(sc.Inputs[d], "out.txt"))
					if err != nil {
						return err
					}
					b.WriteString("(" + string(data) + ")")
				}
				sc.Update(1, 1, "")
				return os.WriteFile(filepath.Join(sc.OutDir, "out.txt"), []byte(b.String()), 0o666)
			},
		}
	}
	return []*Stage{mk("d", "b", "c"), mk("b", "a"), mk("c", "a"), mk("a")}
}

func TestExecuteCachesAndReuses(t *testing.T) {
	c, _ := cache.Open(t.TempDir())
	runs := map[string]*atomic.Int32{}
	var events []Event
	var mu sync.Mutex
	opt := Options{Cache: c, Jobs: 2, Events: func(ev Event) { mu.Lock(); events = append(events, ev); mu.Unlock() }}
	s, err := Execute(context.Background(), diamond(runs, nil, ""), opt)
	if err != nil || s.Err() != nil {
		t.Fatal(err, s.Err())
	}
	if s.Ran != 4 || s.Cached != 0 {
		t.Fatalf("first run: %+v", s)
	}
	data, _ := os.ReadFile(filepath.Join(s.Results["d"].OutputDir, "out.txt"))
	if string(data) != "d(b(a))(c(a))" {
		t.Fatalf("d output %q", data)
	}
	if log, err := os.ReadFile(c.LogPath(aid("d"))); err != nil || !strings.Contains(string(log), "running d") {
		t.Fatalf("log of d: %q %v", log, err)
	}
	s2, err := Execute(context.Background(), diamond(runs, nil, ""), opt)
	if err != nil || s2.Cached != 4 || s2.Ran != 0 {
		t.Fatalf("second run: %+v %v", s2, err)
	}
	if s2.Results["d"].OutputID != s.Results["d"].OutputID {
		t.Fatal("cached output differs")
	}
	// Corrupt b's output: it is reported and rebuilt; nothing else runs.
	os.WriteFile(filepath.Join(s.Results["b"].OutputDir, "out.txt"), []byte("garbage"), 0o666)
	events = nil
	runs2 := map[string]*atomic.Int32{}
	s3, err := Execute(context.Background(), diamond(runs2, nil, ""), opt)
	if err != nil || s3.Err() != nil {
		t.Fatal(err, s3.Err())
	}
	if s3.Ran != 1 || runs2["b"].Load() != 1 || s3.Results["b"].OutputID != s.Results["b"].OutputID {
		t.Fatalf("rebuild after corruption: %+v", s3)
	}
	found := false
	for _, ev := range events {
		if ev.Type == EvCorrupt && ev.Stage == "b" {
			found = true
		}
	}
	if !found {
		t.Fatal("no corrupt event for b")
	}
}

func TestExecuteFailures(t *testing.T) {
	tests := []struct {
		name      string
		fail      map[string]int
		retries   int
		failFast  bool
		wantRan   int
		wantFail  int
		wantSkip  int
		wantRunsB int32
	}{
		{"retry succeeds", map[string]int{"b": 1}, 1, false, 4, 0, 0, 2},
		{"keep going", map[string]int{"b": 5}, 0, false, 2, 1, 1, 1},
		{"retries exhausted", map[string]int{"b": 5}, 2, false, 2, 1, 1, 3},
		{"fail fast", map[string]int{"a": 5}, 0, true, 0, 1, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := cache.Open(t.TempDir())
			runs := map[string]*atomic.Int32{}
			stages := diamond(runs, tt.fail, tt.name)
			for _, st := range stages {
				st.Retries = tt.retries
			}
			s, err := Execute(context.Background(), stages, Options{Cache: c, Jobs: 1, FailFast: tt.failFast})
			if err != nil {
				t.Fatal(err)
			}
			if s.Ran != tt.wantRan || s.Failed != tt.wantFail || s.Skipped != tt.wantSkip || runs["b"].Load() != tt.wantRunsB {
				t.Fatalf("got ran %d failed %d skipped %d b-runs %d", s.Ran, s.Failed, s.Skipped, runs["b"].Load())
			}
			if (tt.wantFail > 0) != (s.Err() != nil) {
				t.Fatalf("Err() = %v", s.Err())
			}
		})
	}
}

func TestExecuteBadPlans(t *testing.T) {
	c, _ := cache.Open(t.TempDir())
	run := func(context.Context, *StageContext) error { return nil }
	tests := []struct {
		name   string
		stages []*Stage
		want   string
	}{
		{"cycle", []*Stage{{Name: "a", ActionID: aid("a"), Deps: []string{"b"}, Run: run}, {Name: "b", ActionID: aid("b"), Deps: []string{"a"}, Run: run}}, "cycle"},
		{"unknown dep", []*Stage{{Name: "a", ActionID: aid("a"), Deps: []string{"z"}, Run: run}}, "unknown stage"},
		{"duplicate", []*Stage{{Name: "a", ActionID: aid("a"), Run: run}, {Name: "a", ActionID: aid("b"), Run: run}}, "duplicate"},
	}
	for _, tt := range tests {
		_, err := Execute(context.Background(), tt.stages, Options{Cache: c})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestExecutePanicIsFailure(t *testing.T) {
	c, _ := cache.Open(t.TempDir())
	st := &Stage{Name: "p", ActionID: aid("p"), Run: func(context.Context, *StageContext) error { panic("boom") }}
	s, err := Execute(context.Background(), []*Stage{st}, Options{Cache: c})
	if err != nil {
		t.Fatal(err)
	}
	if s.Failed != 1 || !strings.Contains(s.Err().Error(), "boom") {
		t.Fatalf("%+v %v", s, s.Err())
	}
	log, _ := os.ReadFile(filepath.Join(c.WorkDir(aid("p")), "stage.log"))
	if !strings.Contains(string(log), "panic: boom") {
		t.Fatalf("failed stage log %q", log)
	}
}

func TestExecuteKeepsCheckpoints(t *testing.T) {
	c, _ := cache.Open(t.TempDir())
	attempt := 0
	st := &Stage{Name: "t", Kind: "train", ActionID: aid("t"), Retries: 1, Run: func(ctx context.Context, sc *StageContext) error {
		attempt++
		ck := filepath.Join(sc.OutDir, "checkpoints")
		if attempt == 1 {
			os.MkdirAll(ck, 0o777)
			os.WriteFile(filepath.Join(ck, "step"), []byte("7"), 0o666)
			os.WriteFile(filepath.Join(sc.OutDir, "partial"), nil, 0o666)
			return errors.New("killed")
		}
		if _, err := os.Stat(filepath.Join(sc.OutDir, "partial")); err == nil {
			return errors.New("partial output of the failed attempt was kept")
		}
		b, err := os.ReadFile(filepath.Join(ck, "step"))
		if err != nil || string(b) != "7" {
			return fmt.Errorf("checkpoint lost: %v", err)
		}
		return os.WriteFile(filepath.Join(sc.OutDir, "adapter"), []byte("A"), 0o666)
	}}
	s, err := Execute(context.Background(), []*Stage{st}, Options{Cache: c})
	if err != nil || s.Err() != nil {
		t.Fatal(err, s.Err())
	}
	if _, err := os.Stat(filepath.Join(s.Results["t"].OutputDir, "checkpoints")); err == nil {
		t.Fatal("checkpoints stored as output")
	}
}

// TestExecuteInterrupted cancels a run in the middle of a stage: the stage
// and everything after it are reported as not run, nothing is stored, and
// the stage's work directory (its checkpoints) is kept for the next run.
func TestExecuteInterrupted(t *testing.T) {
	c, _ := cache.Open(t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	slow := &Stage{Name: "slow", Kind: "train", ActionID: aid("slow"), Run: func(ctx context.Context, sc *StageContext) error {
		os.MkdirAll(filepath.Join(sc.OutDir, "checkpoints"), 0o777)
		os.WriteFile(filepath.Join(sc.OutDir, "checkpoints", "step-1"), nil, 0o666)
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}}
	after := &Stage{Name: "after", ActionID: aid("after"), Deps: []string{"slow"}, Run: func(context.Context, *StageContext) error { return nil }}
	go func() { <-started; cancel() }()
	s, err := Execute(ctx, []*Stage{slow, after}, Options{Cache: c})
	if err != nil {
		t.Fatal(err)
	}
	if s.Skipped != 2 || s.Failed != 0 || s.Err() == nil {
		t.Fatalf("interrupted run: %+v, err %v", s, s.Err())
	}
	if _, ok := c.Lookup(aid("slow")); ok {
		t.Fatal("interrupted stage stored")
	}
	if _, err := os.Stat(filepath.Join(c.WorkDir(aid("slow")), "out", "checkpoints", "step-1")); err != nil {
		t.Fatalf("checkpoint of the interrupted stage lost: %v", err)
	}
}

// TestAttemptsNumberedAcrossRuns: a stage that failed (or was killed) in
// one run and is run again by the next continues the attempt count in its
// log, so `crossin logs` shows attempt 1, 2, 3 rather than three attempt 1s.
func TestAttemptsNumberedAcrossRuns(t *testing.T) {
	c, _ := cache.Open(t.TempDir())
	calls := 0
	mk := func() *Stage {
		return &Stage{Name: "t", Kind: "train", ActionID: aid("attempts"), Retries: 1, Run: func(ctx context.Context, sc *StageContext) error {
			calls++
			os.MkdirAll(filepath.Join(sc.OutDir, "checkpoints"), 0o777)
			if calls <= 2 {
				return fmt.Errorf("failure %d", calls)
			}
			return os.WriteFile(filepath.Join(sc.OutDir, "adapter"), []byte("A"), 0o666)
		}}
	}
	var starts []int
	opt := Options{Cache: c, Events: func(ev Event) {
		if ev.Type == EvStart {
			starts = append(starts, ev.Attempt)
		}
	}}
	// Run 1: attempts 1 and 2 fail. Run 2: attempt 3 succeeds.
	if s, _ := Execute(context.Background(), []*Stage{mk()}, opt); s.Failed != 1 {
		t.Fatalf("first run: %+v", s)
	}
	if s, err := Execute(context.Background(), []*Stage{mk()}, opt); err != nil || s.Err() != nil {
		t.Fatal(err, s.Err())
	}
	b, err := os.ReadFile(c.LogPath(aid("attempts")))
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	for i, want := range []string{"attempt 1, action", "attempt 2 (resuming from its checkpoints), action", "attempt 3 (resuming from its checkpoints), action"} {
		if strings.Count(log, want) != 1 {
			t.Errorf("attempt %d: %q appears %d times in the log:\n%s", i+1, want, strings.Count(log, want), log)
		}
	}
	if fmt.Sprint(starts) != "[1 3]" {
		t.Errorf("start events name attempts %v, want [1 3]", starts)
	}
}

// TestHeavyStagesShareCPUs checks how heavy stages share the CPUs: the
// threads of those running at once never exceed Options.CPUs, stages that
// are ready together split them, one alone gets them all, and a heavy
// stage found in the cache takes none from one that must run.
func TestHeavyStagesShareCPUs(t *testing.T) {
	type obs struct{ threads, inUse int }
	var (
		mu    sync.Mutex
		inUse int
		got   = map[string]obs{}
	)
	// Two ready together (a, b), then c alone after both.
	mk := func(salt string, deps map[string][]string) []*Stage {
		var out []*Stage
		for _, n := range []string{"a", "b", "c"} {
			out = append(out, &Stage{
				Name: n, Kind: "train", ActionID: aid(salt + n), Deps: deps[n], Heavy: true,
				Run: func(ctx context.Context, sc *StageContext) error {
					mu.Lock()
					inUse += sc.Threads
					got[n] = obs{sc.Threads, inUse}
					mu.Unlock()
					time.Sleep(50 * time.Millisecond) // overlap with the other ready stage
					mu.Lock()
					inUse -= sc.Threads
					mu.Unlock()
					return os.WriteFile(filepath.Join(sc.OutDir, "out.txt"), []byte(n), 0o666)
				},
			})
		}
		return out
	}
	deps := map[string][]string{"c": {"a", "b"}}
	c, _ := cache.Open(t.TempDir())
	opt := Options{Cache: c, Jobs: 4, CPUs: 4}
	s, err := Execute(context.Background(), mk("1", deps), opt)
	if err != nil || s.Err() != nil {
		t.Fatal(err, s.Err())
	}
	want := map[string]int{"a": 2, "b": 2, "c": 4}
	for n, w := range want {
		if got[n].threads != w {
			t.Errorf("stage %s ran with %d threads, want %d (all: %v)", n, got[n].threads, w, got)
		}
		if got[n].inUse > opt.CPUs {
			t.Errorf("while %s ran, heavy stages held %d threads on %d CPUs", n, got[n].inUse, opt.CPUs)
		}
	}

	// a cached, b new: b must get every CPU, not share them with a.
	got = map[string]obs{}
	s, err = Execute(context.Background(), mk("1", nil)[:1], opt)
	if err != nil || s.Cached != 1 {
		t.Fatalf("a should be cached: %+v %v", s, err)
	}
	stages := mk("1", nil)[:2]
	stages[1].ActionID = aid("2b")
	if s, err = Execute(context.Background(), stages, opt); err != nil || s.Err() != nil {
		t.Fatal(err, s.Err())
	}
	if got["b"].threads != opt.CPUs {
		t.Errorf("b ran with %d threads beside a cached stage, want all %d", got["b"].threads, opt.CPUs)
	}

	// One job at a time: each heavy stage gets every CPU.
	got = map[string]obs{}
	c2, _ := cache.Open(t.TempDir())
	if s, err = Execute(context.Background(), mk("3", deps), Options{Cache: c2, Jobs: 1, CPUs: 2}); err != nil || s.Err() != nil {
		t.Fatal(err, s.Err())
	}
	for _, n := range []string{"a", "b", "c"} {
		if got[n].threads != 2 {
			t.Errorf("-j 1: stage %s ran with %d threads, want 2", n, got[n].threads)
		}
	}
}

// TestHeavyJobsDefaultCap: on a big machine at most maxHeavyJobs heavy
// stages run at once by default (each holds a model), sharing the CPUs.
func TestHeavyJobsDefaultCap(t *testing.T) {
	var mu sync.Mutex
	now, most, threads := 0, 0, map[int]bool{}
	var stages []*Stage
	for i := range 6 {
		stages = append(stages, &Stage{
			Name: fmt.Sprint("s", i), Kind: "eval", ActionID: aid(fmt.Sprint("cap", i)), Heavy: true,
			Run: func(ctx context.Context, sc *StageContext) error {
				mu.Lock()
				now++
				most = max(most, now)
				threads[sc.Threads] = true
				mu.Unlock()
				time.Sleep(50 * time.Millisecond)
				mu.Lock()
				now--
				mu.Unlock()
				return os.WriteFile(filepath.Join(sc.OutDir, "out.txt"), []byte(sc.Stage.Name), 0o666)
			},
		})
	}
	c, _ := cache.Open(t.TempDir())
	s, err := Execute(context.Background(), stages, Options{Cache: c, Jobs: 16, CPUs: 8})
	if err != nil || s.Err() != nil {
		t.Fatal(err, s.Err())
	}
	if most != maxHeavyJobs {
		t.Errorf("%d heavy stages ran at once, want %d", most, maxHeavyJobs)
	}
	if !threads[2] {
		t.Errorf("threads seen %v: the first %d stages should get 8/%d each", threads, maxHeavyJobs, maxHeavyJobs)
	}
}

// TestIdleCPUsAreLent: when a heavy stage finishes and no stage waits for
// its CPU, a running heavy stage is lent it (StageContext.ThreadsNow), and
// the loan is taken back as soon as a heavy stage waits for CPUs. Stages:
// long and short start together (one CPU each of two); after short, a
// light gate holds the next heavy stage (late) back until long has seen
// the loan; then late waits, and long must see its loan taken back.
func TestIdleCPUsAreLent(t *testing.T) {
	sawLoan, sawBack := make(chan struct{}), make(chan struct{})
	lateThreads := make(chan int, 1)
	wait := func(ctx context.Context, sc *StageContext, want int) bool {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if sc.ThreadsNow() == want {
				return true
			}
			time.Sleep(time.Millisecond)
		}
		return false
	}
	write := func(sc *StageContext) error {
		return os.WriteFile(filepath.Join(sc.OutDir, "out.txt"), []byte(sc.Stage.Name), 0o666)
	}
	stages := []*Stage{
		{Name: "long", Kind: "eval", ActionID: aid("lend-long"), Heavy: true, Run: func(ctx context.Context, sc *StageContext) error {
			if sc.Threads != 1 {
				return fmt.Errorf("long started with %d threads, want 1", sc.Threads)
			}
			if !wait(ctx, sc, 2) {
				return fmt.Errorf("long was never lent short's CPU (threads now %d)", sc.ThreadsNow())
			}
			close(sawLoan)
			if !wait(ctx, sc, 1) {
				return fmt.Errorf("long's loan was not taken back for late (threads now %d)", sc.ThreadsNow())
			}
			close(sawBack)
			return write(sc)
		}},
		{Name: "short", Kind: "eval", ActionID: aid("lend-short"), Heavy: true, Run: func(ctx context.Context, sc *StageContext) error {
			return write(sc)
		}},
		{Name: "gate", Kind: "score", ActionID: aid("lend-gate"), Deps: []string{"short"}, Run: func(ctx context.Context, sc *StageContext) error {
			select {
			case <-sawLoan:
			case <-time.After(10 * time.Second):
				return errors.New("long never saw the loan")
			}
			return write(sc)
		}},
		{Name: "late", Kind: "eval", ActionID: aid("lend-late"), Deps: []string{"gate"}, Heavy: true, Run: func(ctx context.Context, sc *StageContext) error {
			lateThreads <- sc.Threads
			select {
			case <-sawBack:
			case <-time.After(10 * time.Second):
				return errors.New("long never saw its loan taken back")
			}
			return write(sc)
		}},
	}
	c, _ := cache.Open(t.TempDir())
	s, err := Execute(context.Background(), stages, Options{Cache: c, Jobs: 4, CPUs: 2})
	if err != nil || s.Err() != nil {
		t.Fatal(err, s.Err())
	}
	if n := <-lateThreads; n != 1 {
		t.Errorf("late started with %d threads, want the 1 taken back from long", n)
	}
}

// TestCapThreads: a backend's threads setting bounds a stage's threads,
// including "all CPUs" (0); without a setting nothing changes.
func TestCapThreads(t *testing.T) {
	for _, c := range []struct{ n, limit, want int }{
		{4, 0, 4}, {0, 0, 0}, {0, 2, 2}, {4, 2, 2}, {1, 2, 1}, {2, 2, 2},
	} {
		if got := capThreads(c.n, c.limit); got != c.want {
			t.Errorf("capThreads(%d, %d) = %d, want %d", c.n, c.limit, got, c.want)
		}
	}
}
