package train

import (
	"runtime"
	"sync"

	"github.com/crossin-lab/crossin/engine/tensor"
)

// The kernels below split work only over independent output rows, and every
// output element is reduced in a fixed order by one goroutine. That is what
// makes training byte-identical for any thread count: parallelism changes
// who computes a value, never the order of the additions that produce it.

// pool runs index ranges on a bounded number of goroutines.
type pool struct{ threads int }

func (p pool) n() int {
	t := p.threads
	if t <= 0 {
		t = runtime.GOMAXPROCS(0)
	}
	return t
}

// parallel calls fn on contiguous sub-ranges covering [0, n). grain is the
// smallest range worth a goroutine.
func (p pool) parallel(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	t := p.n()
	if grain < 1 {
		grain = 1
	}
	if t > (n+grain-1)/grain {
		t = (n + grain - 1) / grain
	}
	if t <= 1 {
		fn(0, n)
		return
	}
	// More chunks than threads balances uneven rows (causal attention).
	chunks := t * 4
	if chunks > n {
		chunks = n
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	for w := 0; w < t; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				c := next
				next++
				mu.Unlock()
				if c >= chunks {
					return
				}
				fn(c*n/chunks, (c+1)*n/chunks)
			}
		}()
	}
	wg.Wait()
}

// matABt sets (or with acc adds to) out[m,n] = a[m,k] · b[n,k]ᵀ: the linear
// layer y = x Wᵀ with W in Hugging Face's [out, in] layout. It runs on the
// inference engine's GEMM, whose per-element arithmetic does not depend on
// the thread count or on the row's position in the batch.
func (p pool) matABt(out, a, b []float32, m, k, n int, acc bool) {
	tensor.MatMulNT(out[:m*n], a[:m*k], b[:n*k], m, n, k, acc)
}

// matAB sets (or adds to) out[m,n] = a[m,k] · b[k,n]: the input gradient
// dx = dy W of a linear layer.
func (p pool) matAB(out, a, b []float32, m, k, n int, acc bool) {
	tensor.MatMulNN(out[:m*n], a[:m*k], b[:k*n], m, n, k, acc)
}

// matAtB sets (or adds to) out[k,n] = a[m,k]ᵀ · b[m,n]: the weight gradient
// dW = dyᵀ x.
func (p pool) matAtB(out, a, b []float32, m, k, n int, acc bool) {
	tensor.MatMulTN(out[:k*n], a[:m*k], b[:m*n], k, n, m, acc)
}
