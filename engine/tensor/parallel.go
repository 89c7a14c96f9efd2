package tensor

import (
	"runtime"
	"sync/atomic"
)

// This file and hot.go (its pool of workers) are the one home of the
// engine's parallel loop. Callers split
// work so that each index writes only its own outputs; the chunking then
// decides who computes a value, never the order of the additions that
// produce it, so results do not depend on the number of goroutines.

// Parallel runs fn over [0,n) split into contiguous chunks of at least
// grain items on up to GOMAXPROCS goroutines. The chunks are fixed by n and
// grain alone, so a body that writes only its own items is deterministic.
func Parallel(n, grain int, fn func(lo, hi int)) { ParallelN(0, n, grain, fn) }

// ParallelN is Parallel on at most threads goroutines (0 = GOMAXPROCS).
func ParallelN(threads, n, grain int, fn func(lo, hi int)) { Threads(threads).Parallel(n, grain, fn) }

// Threads bounds the goroutines of one product or loop, the caller's
// included: n > 0 uses at most n, 0 up to GOMAXPROCS. The work's partition
// never depends on it, so neither do results. It is how a caller that
// shares the process with other work (the runner's concurrent stages, a
// trainer job's `threads`) keeps the engine within its share of the CPUs,
// which GOMAXPROCS, being process-wide, cannot do. A loop body that runs
// products of its own divides its bound among its goroutines (Split).
type Threads int

func (t Threads) workers() int {
	if t > 0 {
		return int(t)
	}
	return runtime.GOMAXPROCS(0)
}

// Split returns the bound for work nested inside a loop of tasks items run
// under t: t's goroutines shared among the tasks, at least one each, so
// nested products never multiply the bound.
func (t Threads) Split(tasks int) Threads {
	if tasks < 1 {
		tasks = 1
	}
	return Threads(max(1, t.workers()/tasks))
}

// Parallel runs fn over [0,n) split into contiguous chunks of at least
// grain items on at most t goroutines (see the package's Parallel).
func (t Threads) Parallel(n, grain int, fn func(lo, hi int)) {
	if grain < 1 {
		grain = 1
	}
	chunks := (n + grain - 1) / grain
	if chunks <= 1 || t.workers() == 1 {
		notePeak(1)
		if n > 0 {
			fn(0, n)
		}
		return
	}
	forEach(t.workers(), chunks, func(c int) { fn(c*grain, min((c+1)*grain, n)) })
}

// forEach calls fn(i) for every i in [0, tasks) on min(workers, tasks)
// goroutines, the caller's included, each taking the next index. The
// helpers come from the process's pool of hot workers (hot.go); when none
// is free the caller runs the tasks itself, which changes who computes an
// index, never what.
func forEach(workers, tasks int, fn func(int)) {
	w := min(workers, tasks)
	notePeak(w)
	if w <= 1 {
		for i := 0; i < tasks; i++ {
			fn(i)
		}
		return
	}
	r := &region{fn: fn, tasks: int64(tasks)}
	hotPool.lend(r, w-1)
	r.run()
	r.wait()
}

// peak is the most goroutines one product or loop has used since the last
// PeakWorkers call.
var peak atomic.Int64

func notePeak(w int) {
	for {
		p := peak.Load()
		if int64(w) <= p || peak.CompareAndSwap(p, int64(w)) {
			return
		}
	}
}

// PeakWorkers returns the most goroutines any one product or loop used
// since the previous call, and resets the count. Tests use it to check
// that a Threads bound (a trainer's `threads`) really holds.
func PeakWorkers() int { return int(peak.Swap(0)) }
