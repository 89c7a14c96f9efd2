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

// dot returns sum a[i]*b[i] in float32, accumulated in four lanes that are
// combined in a fixed order.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// axpy does y += alpha*x.
func axpy(alpha float32, x, y []float32) {
	y = y[:len(x)]
	i := 0
	for ; i+4 <= len(x); i += 4 {
		y[i] += alpha * x[i]
		y[i+1] += alpha * x[i+1]
		y[i+2] += alpha * x[i+2]
		y[i+3] += alpha * x[i+3]
	}
	for ; i < len(x); i++ {
		y[i] += alpha * x[i]
	}
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
