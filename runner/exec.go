// Package runner executes a plan: it runs the DAG of stages with bounded
// parallelism against the content-addressed cache (runner/cache), keeps
// every stage's log with its outputs, resumes interrupted work, and reports
// progress as a live view, plain lines or JSON-line events.
package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crossin-lab/crossin/runner/cache"
	"github.com/crossin-lab/crossin/runner/plan"
	"github.com/crossin-lab/crossin/trainer"
)

// Stage is one unit of work of the executor.
type Stage struct {
	Name     string // unique, human-readable ("train/tiny-x2x-s42")
	Kind     plan.Kind
	ActionID string   // the plan's action key (hex, optionally "sha256:"-prefixed)
	Deps     []string // names of the stages whose outputs this one reads
	Retries  int      // extra attempts after a failure
	// Heavy marks a stage whose work is CPU-bound and parallel (training
	// and inference on the embedded engine). Heavy stages that must run
	// share the CPUs instead of each taking all of them: the executor
	// hands each a number of threads so that the threads of the heavy
	// stages running at once never exceed Options.CPUs (two engine stages
	// with all threads each on two cores run slower together than one
	// after the other, because their parallel loops wait on each other's
	// descheduled threads). When several are ready, each gets an equal
	// share; one alone gets every free CPU. Threads never change results
	// (the trainers are deterministic across threads).
	Heavy bool
	// Key, when set, computes the ActionID once the dependencies are
	// built, from their OutputIDs (dependency name -> OutputID): a stage's
	// key covers its inputs' content, which is known only then. ActionID
	// is then only the planner's guess (used for progress counts).
	Key func(depOutputs map[string]string) (string, error)
	// Run produces the stage's outputs in sc.OutDir. It must be idempotent
	// over an interrupted OutDir: the directory survives a crash so that a
	// training stage can resume from OutDir/checkpoints.
	Run func(ctx context.Context, sc *StageContext) error
}

// StageContext is what a running stage gets.
type StageContext struct {
	Stage   *Stage
	OutDir  string            // write outputs here; checkpoints/ inside it is kept across crashes
	WorkDir string            // the stage's scratch beside OutDir (its trainer inputs); never an output
	Inputs  map[string]string // dependency name -> its output directory (read-only)
	Log     io.Writer         // the stage's log, kept with its outputs
	Threads int               // CPU threads this stage may use when it starts
	action  string            // the stage's action ID, once keyed
	report  func(done, total int, msg string)
	// now is the threads the stage may use at present (ThreadsNow): the
	// executor lends it idle CPUs and takes them back; nil outside it.
	now *atomic.Int64
	// threadCap bounds the stage's threads (a backend's threads
	// setting), if > 0.
	threadCap int
}

// ThreadsNow is the threads the stage may use at present: Threads, plus
// what the executor lends it while other stages leave CPUs idle
// (trainer.ThreadLender), within its cap.
func (sc *StageContext) ThreadsNow() int {
	n := sc.Threads
	if sc.now != nil {
		n = int(sc.now.Load())
	}
	return capThreads(n, sc.threadCap)
}

// capThreads bounds n threads (0: all CPUs) by limit, if limit > 0.
func capThreads(n, limit int) int {
	if limit > 0 && (n == 0 || n > limit) {
		return limit
	}
	return n
}

// StageName and ActionID name the running stage; backends that label what
// they submit with them (backend/kubernetes) find them on the
// trainer.Progress they are given.
func (sc *StageContext) StageName() string { return sc.Stage.Name }

// ActionID is the stage's action key (hex).
func (sc *StageContext) ActionID() string { return sc.action }

// Update reports the stage's progress (it implements trainer.Progress).
func (sc *StageContext) Update(done, total int, msg string) {
	if sc.report != nil {
		sc.report(done, total, msg)
	}
}

var _ trainer.Progress = (*StageContext)(nil)

// Status of a stage after a run.
const (
	StatusCached  = "cached"  // reused from the cache
	StatusRan     = "ran"     // run by this process
	StatusShared  = "shared"  // run by another process sharing the cache, reused
	StatusPulled  = "pulled"  // fetched from the remote cache, verified and stored locally
	StatusFailed  = "failed"  // ran and failed (after retries)
	StatusSkipped = "skipped" // not run: a dependency failed or the run stopped
)

// Result is the outcome of one stage.
type Result struct {
	Stage     *Stage
	Status    string
	ActionID  string
	OutputID  string
	OutputDir string
	Duration  time.Duration // of this run (0 when cached)
	Attempts  int
	Err       error
}

// Options configure Execute.
type Options struct {
	Cache *cache.Cache
	// Jobs bounds the stages running at once (default: the number of CPUs).
	Jobs int
	// FailFast stops every stage at the first failure; otherwise only the
	// stages that depend on a failed one are skipped (keep going).
	FailFast bool
	// Threads is the CPU threads a light stage may use (default: CPUs /
	// Jobs); heavy stages get their share of CPUs instead.
	Threads int
	// CPUs is what the heavy stages running at once share (default
	// GOMAXPROCS).
	CPUs int
	// HeavyJobs bounds the heavy stages running at once (default CPUs, at
	// most maxHeavyJobs).
	HeavyJobs int
	// Engine is recorded in cache entries ("embedded devel").
	Engine string
	// Events receives progress events; it is called from one goroutine at
	// a time. Nil discards them.
	Events func(Event)
	// OnDone is called, from one goroutine at a time, for every stage
	// whose output is available (run, cached or shared); the runner saves
	// the stage's key description there for explain.
	OnDone func(st *Stage, r *Result)
	// Remote, when set, is consulted after a local cache miss (a stage
	// someone else already ran is pulled instead of recomputed) and is
	// given every stage this process runs.
	Remote RemoteCache
}

// RemoteCache is a cache of stage outputs shared through a registry (see
// oci.PushCache and oci.PullCache); entries are addressed by ActionID and
// verified by digest on the way in.
type RemoteCache interface {
	// Fetch writes the outputs stored for actionID into dest (which must
	// not exist) and reports whether there were any.
	Fetch(ctx context.Context, actionID, dest string) (bool, error)
	// Store uploads the output directory dir under actionID.
	Store(ctx context.Context, actionID, dir string, meta map[string]string) error
}

// Summary is the outcome of Execute.
type Summary struct {
	Results  map[string]*Result
	Order    []string // stage names in plan order
	Ran      int
	Cached   int
	Failed   int
	Skipped  int
	Duration time.Duration
}

// Err returns an error naming the failed stages, or nil.
func (s *Summary) Err() error {
	var failed []string
	for _, n := range s.Order {
		if r := s.Results[n]; r.Status == StatusFailed {
			failed = append(failed, n)
		}
	}
	if len(failed) == 0 {
		if s.Skipped > 0 {
			return fmt.Errorf("run stopped: %d stages not run", s.Skipped)
		}
		return nil
	}
	first := s.Results[failed[0]]
	if len(failed) == 1 {
		return fmt.Errorf("stage %s failed: %w (log: crossin logs %s)", failed[0], first.Err, failed[0])
	}
	return fmt.Errorf("%d stages failed; first %s: %w (log: crossin logs %s)", len(failed), failed[0], first.Err, failed[0])
}

// maxHeavyJobs bounds the default number of heavy stages at once: each
// holds its own copy of a model and its activations, so memory grows with
// it, while a stage with several threads already uses a big machine's
// cores well. On a small machine every core still gets a stage.
const maxHeavyJobs = 4

// ErrCycle is returned for a plan whose dependencies form a cycle.
var ErrCycle = errors.New("runner: dependency cycle")

// Execute runs stages (in any order; dependencies are by name) and returns
// the outcome of each. A stage whose verified output is in the cache is
// not run; a corrupt entry is reported and rebuilt. The returned error is
// for a malformed plan or a cache failure; stage failures are in the
// Summary (see Summary.Err).
func Execute(ctx context.Context, stages []*Stage, opt Options) (*Summary, error) {
	start := time.Now()
	if opt.Cache == nil {
		return nil, errors.New("runner: no cache")
	}
	if opt.Jobs <= 0 {
		opt.Jobs = runtime.NumCPU()
	}
	if opt.CPUs <= 0 {
		opt.CPUs = runtime.GOMAXPROCS(0)
	}
	if opt.Threads <= 0 {
		opt.Threads = max(1, opt.CPUs/opt.Jobs)
	}
	if opt.HeavyJobs <= 0 {
		opt.HeavyJobs = min(opt.CPUs, maxHeavyJobs)
	}
	byName := map[string]*Stage{}
	order := make([]string, 0, len(stages))
	for _, st := range stages {
		if _, dup := byName[st.Name]; dup {
			return nil, fmt.Errorf("runner: duplicate stage %q", st.Name)
		}
		if st.Run == nil {
			return nil, fmt.Errorf("runner: stage %q has nothing to run", st.Name)
		}
		byName[st.Name] = st
		order = append(order, st.Name)
	}
	for _, st := range stages {
		for _, d := range st.Deps {
			if byName[d] == nil {
				return nil, fmt.Errorf("runner: stage %q depends on unknown stage %q", st.Name, d)
			}
		}
	}
	if err := checkAcyclic(stages, byName); err != nil {
		return nil, err
	}
	use, err := opt.Cache.Use(ctx)
	if err != nil {
		return nil, err
	}
	defer use.Unlock()

	e := &executor{opt: opt, byName: byName, order: order, results: map[string]*Result{}}
	e.events = newEventSerializer(opt.Events)
	return e.run(ctx, start)
}

func checkAcyclic(stages []*Stage, byName map[string]*Stage) error {
	state := map[string]int{}
	var visit func(n string, path []string) error
	visit = func(n string, path []string) error {
		switch state[n] {
		case 1:
			return fmt.Errorf("%w: %v", ErrCycle, append(path, n))
		case 2:
			return nil
		}
		state[n] = 1
		for _, d := range byName[n].Deps {
			if err := visit(d, append(path, n)); err != nil {
				return err
			}
		}
		state[n] = 2
		return nil
	}
	for _, st := range stages {
		if err := visit(st.Name, nil); err != nil {
			return err
		}
	}
	return nil
}

type executor struct {
	opt     Options
	byName  map[string]*Stage
	order   []string
	events  *eventSerializer
	mu      sync.Mutex
	results map[string]*Result
}

func (e *executor) run(ctx context.Context, start time.Time) (*Summary, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Probe the cache first so the progress view knows the work ahead.
	cached := 0
	for _, n := range e.order {
		st := e.byName[n]
		if _, ok := e.opt.Cache.Lookup(st.ActionID); ok {
			cached++
		}
	}
	e.events.emit(Event{Type: EvPlan, Total: len(e.order), Cached: cached})

	pending := map[string]int{} // unfinished deps
	dependents := map[string][]string{}
	for _, n := range e.order {
		st := e.byName[n]
		pending[n] = len(st.Deps)
		for _, d := range st.Deps {
			dependents[d] = append(dependents[d], n)
		}
	}
	// A ready stage is first probed (its key computed from its inputs'
	// outputs, and the cache entry looked up and verified) without
	// holding a job slot or CPUs; only a miss becomes runnable and
	// competes for them, so a cached stage never takes threads from one
	// that must run.
	type done struct {
		name  string
		res   *Result
		probe bool // a probe's outcome
		miss  bool // the probe found no output: the stage must run
	}
	doneCh := make(chan done)
	var ready, runnable []string
	for _, n := range e.order {
		if pending[n] == 0 {
			ready = append(ready, n)
		}
	}
	probed := map[string]*Result{} // runnable stages: their probe's result
	running, probing, heavy, heavyThreads := 0, 0, 0, 0
	stopped := false
	finished := map[string]bool{}
	var skip func(n, why string)
	skip = func(n, why string) {
		if finished[n] {
			return
		}
		finished[n] = true
		e.mu.Lock()
		e.results[n] = &Result{Stage: e.byName[n], Status: StatusSkipped, Err: errors.New(why)}
		e.mu.Unlock()
		e.events.emit(Event{Type: EvSkipped, Stage: n, Kind: e.byName[n].Kind, Error: why})
		for _, d := range dependents[n] {
			skip(d, why)
		}
	}
	threadsOf := map[string]int{} // heavy stages running: their threads
	// A running heavy stage starts with its share (base) and may be lent
	// the CPUs that no waiting stage can use (lend); the loan is taken
	// back as soon as a heavy stage is waiting for CPUs (reclaim). now
	// is what its trainer sees (StageContext.ThreadsNow).
	base := map[string]int{}
	now := map[string]*atomic.Int64{}
	lent := func() int {
		l := 0
		for n, t := range threadsOf {
			l += t - base[n]
		}
		return l
	}
	reclaim := func() {
		for n, t := range threadsOf {
			if t > base[n] {
				heavyThreads -= t - base[n]
				threadsOf[n] = base[n]
				now[n].Store(int64(base[n]))
			}
		}
	}
	heavyWaiting := func() bool {
		for _, n := range runnable {
			if e.byName[n].Heavy {
				return true
			}
		}
		return false
	}
	// lend gives the idle CPUs, one at a time, to the running heavy
	// stages with the fewest threads (plan order among equals).
	lend := func() {
		for free := e.opt.CPUs - heavyThreads; free > 0 && heavy > 0; free-- {
			pick := ""
			for n, t := range threadsOf {
				if pick == "" || t < threadsOf[pick] || (t == threadsOf[pick] && e.index(n) < e.index(pick)) {
					pick = n
				}
			}
			threadsOf[pick]++
			heavyThreads++
			now[pick].Store(int64(threadsOf[pick]))
		}
	}
	for len(finished) < len(e.order) {
		if ctx.Err() != nil {
			stopped = true // interrupted: start nothing more
		}
		if !stopped {
			for _, n := range ready {
				probing++
				go func(st *Stage) {
					res, final := e.probe(st)
					doneCh <- done{name: st.Name, res: res, probe: true, miss: !final}
				}(e.byName[n])
			}
			ready = nil
		}
		if !stopped && heavyWaiting() && lent() > 0 {
			reclaim()
		}
		for !stopped && running < e.opt.Jobs {
			// The first runnable stage in plan order that may start now:
			// a heavy stage waits for a free CPU, and for the probes in
			// flight (so that stages ready together share the CPUs);
			// light ones pass it.
			free := e.opt.CPUs - heavyThreads
			k := -1
			for i, n := range runnable {
				if !e.byName[n].Heavy || (free > 0 && heavy < e.opt.HeavyJobs && probing == 0) {
					k = i
					break
				}
			}
			if k < 0 {
				break
			}
			n := runnable[k]
			runnable = append(runnable[:k], runnable[k+1:]...)
			st := e.byName[n]
			threads := e.opt.Threads
			if st.Heavy {
				// An equal share of the free CPUs among the heavy stages
				// that could start now.
				share := 1
				for _, m := range runnable {
					if e.byName[m].Heavy {
						share++
					}
				}
				share = min(share, free, e.opt.HeavyJobs-heavy, e.opt.Jobs-running)
				threads = max(1, free/max(1, share))
				heavy++
				heavyThreads += threads
				threadsOf[n] = threads
				base[n] = threads
			}
			running++
			res := probed[n]
			delete(probed, n)
			tn := new(atomic.Int64)
			tn.Store(int64(threads))
			if st.Heavy {
				now[n] = tn
			}
			go func(st *Stage, res *Result, threads *atomic.Int64) {
				doneCh <- done{name: st.Name, res: e.execute(ctx, st, res, threads)}
			}(st, res, tn)
		}
		if !stopped && probing == 0 && !heavyWaiting() {
			lend()
		}
		if running == 0 && probing == 0 {
			// Nothing can start: the run was stopped.
			for _, n := range e.order {
				skip(n, "run stopped")
			}
			break
		}
		d := <-doneCh
		if d.probe {
			probing--
			if d.miss {
				probed[d.name] = d.res
				runnable = append(runnable, d.name)
				sort.SliceStable(runnable, func(i, j int) bool { return e.index(runnable[i]) < e.index(runnable[j]) })
				continue
			}
		} else {
			running--
			if t, ok := threadsOf[d.name]; ok {
				heavy--
				heavyThreads -= t
				delete(threadsOf, d.name)
				delete(base, d.name)
				delete(now, d.name)
			}
		}
		finished[d.name] = true
		e.mu.Lock()
		e.results[d.name] = d.res
		e.mu.Unlock()
		if e.opt.OnDone != nil && d.res.OutputID != "" {
			e.opt.OnDone(e.byName[d.name], d.res)
		}
		if d.res.Status == StatusFailed || d.res.Status == StatusSkipped {
			for _, dep := range dependents[d.name] {
				skip(dep, "dependency "+d.name+" failed")
			}
			if e.opt.FailFast && !stopped {
				stopped = true
				cancel()
			}
			continue
		}
		for _, dep := range dependents[d.name] {
			pending[dep]--
			if pending[dep] == 0 && !finished[dep] {
				ready = append(ready, dep)
			}
		}
		// Keep plan order among ready stages for stable scheduling.
		sort.SliceStable(ready, func(i, j int) bool { return e.index(ready[i]) < e.index(ready[j]) })
	}
	if ctx.Err() != nil && !stopped {
		for _, n := range e.order {
			if !finished[n] {
				skip(n, "interrupted")
			}
		}
	}
	s := &Summary{Results: e.results, Order: e.order}
	for _, n := range e.order {
		switch e.results[n].Status {
		case StatusRan:
			s.Ran++
		case StatusCached, StatusShared, StatusPulled: // shared: run by another process
			s.Cached++
		case StatusFailed:
			s.Failed++
		case StatusSkipped:
			s.Skipped++
		}
	}
	s.Duration = time.Since(start)
	e.events.emit(Event{Type: EvFinish, Total: len(e.order), Ran: s.Ran, Cached: s.Cached, Failed: s.Failed, Skipped: s.Skipped, Seconds: s.Duration.Seconds()})
	return s, nil
}

func (e *executor) index(n string) int {
	for i, m := range e.order {
		if m == n {
			return i
		}
	}
	return len(e.order)
}

// inputs returns the output directories and OutputIDs of st's
// dependencies.
func (e *executor) inputs(st *Stage) (dirs, ids map[string]string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	dirs, ids = map[string]string{}, map[string]string{}
	for _, d := range st.Deps {
		dirs[d] = e.results[d].OutputDir
		ids[d] = e.results[d].OutputID
	}
	return dirs, ids
}

// probe computes st's key from its inputs and looks its output up in the
// cache. It returns the stage's final result (cached, or failed to key)
// with final set, or the result to pass to execute.
func (e *executor) probe(st *Stage) (res *Result, final bool) {
	res = &Result{Stage: st, ActionID: cache.NormalizeID(st.ActionID)}
	_, inputIDs := e.inputs(st)
	if st.Key != nil {
		a, err := st.Key(inputIDs)
		if err != nil {
			res.Status, res.Err = StatusFailed, fmt.Errorf("computing the stage key: %w", err)
			e.events.emit(Event{Type: EvFailed, Stage: st.Name, Kind: st.Kind, Error: res.Err.Error()})
			return res, true
		}
		res.ActionID = cache.NormalizeID(a)
	}
	if ent, ok := e.lookup(st, res.ActionID); ok {
		return e.hit(res, ent, StatusCached), true
	}
	return res, false
}

// hit fills res from a cache entry.
func (e *executor) hit(res *Result, ent *cache.Entry, status string) *Result {
	st := res.Stage
	res.Status = status
	res.OutputID = ent.OutputID
	res.OutputDir = e.opt.Cache.OutputDir(ent.OutputID)
	e.events.emit(Event{Type: EvCached, Stage: st.Name, Kind: st.Kind, Output: ent.OutputID,
		Shared: status == StatusShared, Remote: status == StatusPulled})
	return res
}

// lookup returns the verified cache entry of action; a corrupt one is
// reported (and removed by the cache).
func (e *executor) lookup(st *Stage, action string) (*cache.Entry, bool) {
	ent, err := e.opt.Cache.Get(action)
	if err == nil {
		return ent, true
	}
	var ce *cache.CorruptError
	if errors.As(err, &ce) {
		e.events.emit(Event{Type: EvCorrupt, Stage: st.Name, Kind: st.Kind, Error: ce.Error()})
	}
	return nil, false
}

// execute follows the cache protocol for a stage its probe did not find:
// take the action's lock (waiting for another process that holds it),
// look again, pull from the remote cache, and only then run st with
// threads CPU threads.
func (e *executor) execute(ctx context.Context, st *Stage, res *Result, threads *atomic.Int64) *Result {
	c := e.opt.Cache
	inputs, _ := e.inputs(st)
	action := res.ActionID
	hit := func(ent *cache.Entry, status string) *Result { return e.hit(res, ent, status) }
	lookup := func() (*cache.Entry, bool) { return e.lookup(st, action) }
	waited := false
	lock, err := c.LockAction(ctx, action, func() {
		waited = true
		e.events.emit(Event{Type: EvWaiting, Stage: st.Name, Kind: st.Kind})
	})
	if err != nil {
		res.Status = StatusSkipped
		if ctx.Err() == nil {
			res.Status = StatusFailed
		}
		res.Err = err
		return res
	}
	defer lock.Unlock()
	if ent, ok := lookup(); ok {
		if waited {
			return hit(ent, StatusShared)
		}
		return hit(ent, StatusCached)
	}
	if ctx.Err() != nil {
		res.Status = StatusSkipped
		res.Err = ctx.Err()
		return res
	}

	if ent, ok := e.pull(ctx, st, action); ok {
		return hit(ent, StatusPulled)
	}

	work := c.WorkDir(action)
	out := filepath.Join(work, "out")
	logPath := filepath.Join(work, "stage.log")
	if err := os.MkdirAll(work, 0o777); err != nil {
		res.Status, res.Err = StatusFailed, err
		return res
	}
	// Append: the log of an interrupted attempt stays, followed by the
	// resumed one.
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o666)
	if err != nil {
		res.Status, res.Err = StatusFailed, err
		return res
	}
	defer logf.Close()
	resumed := false
	if _, err := os.Stat(filepath.Join(out, trainer.CheckpointDir)); err == nil {
		resumed = true
	}
	// Attempts are numbered across processes: a run that was killed (or
	// failed) left its attempts in the work log, and this one continues
	// the count, so `crossin logs` tells the attempts apart.
	earlier := countAttempts(logPath)
	e.events.emit(Event{Type: EvStart, Stage: st.Name, Kind: st.Kind, Action: action, Resumed: resumed, Attempt: earlier + 1})
	t0 := time.Now()
	var runErr error
	for attempt := 0; attempt <= st.Retries; attempt++ {
		res.Attempts = attempt + 1
		if attempt > 0 {
			e.events.emit(Event{Type: EvRetry, Stage: st.Name, Kind: st.Kind, Attempt: earlier + attempt + 1, Error: runErr.Error()})
		}
		how := ""
		if _, err := os.Stat(filepath.Join(out, trainer.CheckpointDir)); err == nil {
			how = " (resuming from its checkpoints)"
		}
		fmt.Fprintf(logf, "%s%d%s, action %s, %s\n", attemptHeader(st), earlier+attempt+1, how, action, time.Now().UTC().Format(time.RFC3339))
		if err := prepareOut(out); err != nil {
			runErr = err
			break
		}
		sc := &StageContext{Stage: st, OutDir: out, WorkDir: work, Inputs: inputs, Log: logf, Threads: int(threads.Load()), action: action, now: threads}
		sc.report = progressReporter(e.events, st, time.Now())
		runErr = runSafely(ctx, st, sc)
		if runErr == nil || ctx.Err() != nil {
			break
		}
		fmt.Fprintf(logf, "== crossin: attempt %d failed: %v\n", earlier+attempt+1, runErr)
	}
	res.Duration = time.Since(t0)
	if st.Heavy {
		// A heavy stage leaves its model, activations and scratch buffers
		// as garbage; hand them back now rather than when the heap next
		// doubles, so that the stages running beside it and after it do
		// not stack their memory on top of it.
		debug.FreeOSMemory()
	}
	if runErr != nil {
		res.Status = StatusFailed
		if ctx.Err() != nil {
			res.Status = StatusSkipped
		}
		res.Err = runErr
		fmt.Fprintf(logf, "== crossin: failed: %v\n", runErr)
		if res.Status == StatusFailed {
			e.events.emit(Event{Type: EvFailed, Stage: st.Name, Kind: st.Kind, Error: runErr.Error(), Seconds: res.Duration.Seconds()})
		}
		return res
	}
	// Trainer-private and non-deterministic files are not outputs.
	_ = os.RemoveAll(filepath.Join(out, trainer.CheckpointDir))
	if b, err := os.ReadFile(filepath.Join(out, trainer.LogFile)); err == nil {
		fmt.Fprintf(logf, "== trainer log\n%s", b)
		_ = os.Remove(filepath.Join(out, trainer.LogFile))
	}
	fmt.Fprintf(logf, "== crossin: done in %s\n", res.Duration.Round(time.Millisecond))
	host, _ := os.Hostname()
	ent, err := c.Put(action, out, cache.Meta{Stage: st.Name, Kind: string(st.Kind), Engine: e.opt.Engine, Host: host, Duration: res.Duration})
	if err != nil {
		res.Status, res.Err = StatusFailed, err
		e.events.emit(Event{Type: EvFailed, Stage: st.Name, Kind: st.Kind, Error: err.Error()})
		return res
	}
	logf.Close()
	if b, err := os.ReadFile(logPath); err == nil {
		_ = c.PutLog(action, b)
	}
	_ = os.RemoveAll(work)
	e.push(ctx, st, action, ent, res.Duration)
	res.Status = StatusRan
	res.OutputID = ent.OutputID
	res.OutputDir = c.OutputDir(ent.OutputID)
	e.events.emit(Event{Type: EvDone, Stage: st.Name, Kind: st.Kind, Output: ent.OutputID, Seconds: res.Duration.Seconds()})
	return res
}

// attemptHeader starts the log line that opens each attempt of st; logs
// and countAttempts read it.
func attemptHeader(st *Stage) string {
	return fmt.Sprintf("== crossin: stage %s (%s) attempt ", st.Name, st.Kind)
}

// countAttempts returns how many attempts a stage's work log records.
func countAttempts(logPath string) int {
	b, err := os.ReadFile(logPath)
	if err != nil {
		return 0
	}
	n := 0
	for _, line := range bytes.Split(b, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("== crossin: stage ")) && bytes.Contains(line, []byte(") attempt ")) {
			n++
		}
	}
	return n
}

// pull fetches a stage's outputs from the remote cache into the local one.
// A remote that fails is reported and the stage runs locally: a remote
// cache only saves work, it never blocks it.
func (e *executor) pull(ctx context.Context, st *Stage, action string) (*cache.Entry, bool) {
	r := e.opt.Remote
	if r == nil {
		return nil, false
	}
	c := e.opt.Cache
	tmp, err := c.MkdirTemp("pull-")
	if err != nil {
		return nil, false
	}
	defer os.RemoveAll(tmp)
	dest := filepath.Join(tmp, "out")
	ok, err := r.Fetch(ctx, action, dest)
	if err != nil {
		e.events.emit(Event{Type: EvRemote, Stage: st.Name, Kind: st.Kind, Error: "pull: " + err.Error()})
		return nil, false
	}
	if !ok {
		return nil, false
	}
	host, _ := os.Hostname()
	ent, err := c.Put(action, dest, cache.Meta{Stage: st.Name, Kind: string(st.Kind), Engine: "remote cache", Host: host})
	if err != nil {
		e.events.emit(Event{Type: EvRemote, Stage: st.Name, Kind: st.Kind, Error: "pull: " + err.Error()})
		return nil, false
	}
	return ent, true
}

// push gives a stage this process ran to the remote cache (best effort).
func (e *executor) push(ctx context.Context, st *Stage, action string, ent *cache.Entry, took time.Duration) {
	r := e.opt.Remote
	if r == nil {
		return
	}
	meta := map[string]string{"stage": st.Name, "kind": string(st.Kind), "engine": e.opt.Engine, "duration": took.Round(time.Millisecond).String()}
	if err := r.Store(ctx, action, e.opt.Cache.OutputDir(ent.OutputID), meta); err != nil {
		e.events.emit(Event{Type: EvRemote, Stage: st.Name, Kind: st.Kind, Error: "push: " + err.Error()})
		return
	}
	e.events.emit(Event{Type: EvRemote, Stage: st.Name, Kind: st.Kind, Output: ent.OutputID, Message: "pushed"})
}

// prepareOut empties out, except checkpoints/ (a resumable training's
// state), so that an interrupted attempt's partial files are never taken
// for outputs.
func prepareOut(out string) error {
	if err := os.MkdirAll(out, 0o777); err != nil {
		return err
	}
	ents, err := os.ReadDir(out)
	if err != nil {
		return err
	}
	for _, de := range ents {
		if de.Name() == trainer.CheckpointDir {
			continue
		}
		if err := os.RemoveAll(filepath.Join(out, de.Name())); err != nil {
			return err
		}
	}
	return nil
}

// runSafely runs a stage and turns a panic into an error with its stack in
// the log: one broken stage must not take the other running stages down.
func runSafely(ctx context.Context, st *Stage, sc *StageContext) (err error) {
	defer func() {
		if r := recover(); r != nil {
			buf := make([]byte, 64<<10)
			buf = buf[:runtime.Stack(buf, false)]
			fmt.Fprintf(sc.Log, "panic: %v\n%s", r, bytes.TrimSpace(buf))
			err = fmt.Errorf("internal error (panic): %v", r)
		}
	}()
	return st.Run(ctx, sc)
}

func progressReporter(ev *eventSerializer, st *Stage, t0 time.Time) func(done, total int, msg string) {
	var mu sync.Mutex
	var last time.Time
	return func(done, total int, msg string) {
		mu.Lock()
		now := time.Now()
		if now.Sub(last) < 200*time.Millisecond && done != total {
			mu.Unlock()
			return
		}
		last = now
		mu.Unlock()
		eta := 0.0
		if done > 0 && total > done {
			eta = now.Sub(t0).Seconds() / float64(done) * float64(total-done)
		}
		ev.emit(Event{Type: EvProgress, Stage: st.Name, Kind: st.Kind, Done: done, StageTotal: total, Message: msg, ETA: eta})
	}
}
