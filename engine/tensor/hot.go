package tensor

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Hot workers. A parallel region used to start a goroutine per helper;
// waking an idle core for it costs the kernel's and, on a virtual machine,
// the hypervisor's wake-up latency, which is around a hundred microseconds
// on the machines crossin is developed on: a product or loop shorter than
// that ran entirely on the caller while the helper was still waking up,
// so most of a training pass's regions (a projection's product is tenths
// of a millisecond) gained nothing from a second core. The pool's workers
// instead stay awake, polling for work, for spinFor after their last task,
// which covers the gaps between the back-to-back regions of a pass; then
// they park. A region borrows only idle workers, so concurrent regions
// (stages side by side) never wait on each other, and none of this changes
// which arithmetic produces a value (forEach's tasks write their own
// outputs).

// spinFor is how long an idle worker polls before it parks.
const spinFor = 200 * time.Microsecond

// region is one forEach: its tasks, handed out in order by next.
type region struct {
	fn    func(int)
	tasks int64
	next  atomic.Int64
	lent  []*worker    // helpers given the region
	done  atomic.Int64 // helpers that have finished or were taken back
}

// run takes tasks until none is left.
func (r *region) run() {
	for {
		i := r.next.Add(1) - 1
		if i >= r.tasks {
			return
		}
		r.fn(int(i))
	}
}

// wait returns when the helpers lent to r are done. A helper that has not
// picked the region up yet (it may be waking from a park) is taken back
// rather than waited for; one that has is polled for, since it is usually
// less than a task behind.
func (r *region) wait() {
	for _, w := range r.lent {
		if w.job.CompareAndSwap(r, nil) {
			w.busy.Store(false)
			r.done.Add(1)
		}
	}
	for spins := 0; r.done.Load() < int64(len(r.lent)); spins++ {
		if spins > 64 {
			runtime.Gosched()
		}
	}
}

// worker is one hot goroutine; job is its region (nil when idle).
type worker struct {
	busy   atomic.Bool // lent to a region (set by lend, cleared by the worker)
	job    atomic.Pointer[region]
	parked atomic.Bool
	wake   chan struct{}
}

type hotWorkers struct {
	mu      sync.Mutex
	workers []*worker
}

var hotPool hotWorkers

// lend gives r up to n idle workers (r.lent); workers are started on
// demand, up to GOMAXPROCS-1.
func (p *hotWorkers) lend(r *region, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, w := range p.workers {
		if len(r.lent) == n {
			return
		}
		if w.busy.CompareAndSwap(false, true) {
			r.lent = append(r.lent, w)
			w.give(r)
		}
	}
	for len(r.lent) < n && len(p.workers) < runtime.GOMAXPROCS(0)-1 {
		w := &worker{wake: make(chan struct{}, 1)}
		w.busy.Store(true)
		p.workers = append(p.workers, w)
		r.lent = append(r.lent, w)
		go w.loop()
		w.give(r)
	}
}

// give hands the worker its region and wakes it if it parked.
func (w *worker) give(r *region) {
	w.job.Store(r)
	if w.parked.Load() {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

func (w *worker) loop() {
	for {
		deadline := time.Now().Add(spinFor)
		for spins := 0; ; spins++ {
			if r := w.job.Load(); r != nil && w.job.CompareAndSwap(r, nil) {
				r.run()
				w.busy.Store(false)
				r.done.Add(1)
				deadline = time.Now().Add(spinFor)
				spins = 0
				continue
			}
			if spins&63 == 63 {
				if time.Now().After(deadline) {
					break
				}
				runtime.Gosched()
			}
		}
		// Park, unless a region arrived while parking: give stores the
		// job before it reads parked, and this stores parked before it
		// reads the job, so one of the two sees the other.
		w.parked.Store(true)
		if w.job.Load() == nil {
			<-w.wake
		}
		w.parked.Store(false)
	}
}
