package tensor

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestForEachHotWorkers: regions run from many goroutines at once, back to
// back and after the workers have parked, call every index exactly once
// and return only when all of their tasks are done.
func TestForEachHotWorkers(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rep := range 150 {
				tasks := 1 + (g*31+rep*7)%40
				calls := make([]atomic.Int32, tasks)
				var running atomic.Int32
				forEach(1+rep%4, tasks, func(i int) {
					running.Add(1)
					calls[i].Add(1)
					if i%5 == 0 {
						time.Sleep(20 * time.Microsecond)
					}
					running.Add(-1)
				})
				if r := running.Load(); r != 0 {
					t.Errorf("goroutine %d region %d returned with %d tasks still running", g, rep, r)
					return
				}
				for i := range calls {
					if c := calls[i].Load(); c != 1 {
						t.Errorf("goroutine %d region %d: index %d called %d times", g, rep, i, c)
						return
					}
				}
				if rep == 75 {
					time.Sleep(2 * spinFor) // let idle workers park
				}
			}
		}()
	}
	wg.Wait()
}
