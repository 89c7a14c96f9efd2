package tensor

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// This file is the one home of the engine's parallel loop. Callers split
// work so that each index writes only its own outputs; the chunking then
// decides who computes a value, never the order of the additions that
// produce it, so results do not depend on the number of goroutines.

// Parallel runs fn over [0,n) split into contiguous chunks of at least
// grain items on up to GOMAXPROCS goroutines. The chunks are fixed by n and
// grain alone, so a body that writes only its own items is deterministic.
func Parallel(n, grain int, fn func(lo, hi int)) { ParallelN(0, n, grain, fn) }

// ParallelN is Parallel on at most threads goroutines (0 = GOMAXPROCS).
func ParallelN(threads, n, grain int, fn func(lo, hi int)) {
	if grain < 1 {
		grain = 1
	}
	chunks := (n + grain - 1) / grain
	workers := threads
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if chunks <= 1 || workers == 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	w := min(workers, chunks)
	wg.Add(w - 1)
	body := func() {
		for {
			c := int(next.Add(1) - 1)
			if c >= chunks {
				return
			}
			fn(c*grain, min((c+1)*grain, n))
		}
	}
	for i := 0; i < w-1; i++ {
		go func() { defer wg.Done(); body() }()
	}
	body()
	wg.Wait()
}
