package train

import (
	"github.com/crossin-lab/crossin/engine/tensor"
)

// The kernels below split work only over independent output rows, and every
// output element is reduced in a fixed order by one goroutine. That is what
// makes training byte-identical for any thread count: parallelism changes
// who computes a value, never the order of the additions that produce it.

// pool bounds the trainer's loops and matrix products to threads
// goroutines (0 = GOMAXPROCS).
type pool struct{ threads int }

// tensor returns the bound as the engine's tensor.Threads.
func (p pool) tensor() tensor.Threads { return tensor.Threads(p.threads) }

// parallel calls fn on contiguous sub-ranges covering [0, n), each of at
// least grain items (tensor.ParallelN).
func (p pool) parallel(n, grain int, fn func(lo, hi int)) {
	tensor.ParallelN(p.threads, n, grain, fn)
}

// matABt sets (or with acc adds to) out[m,n] = a[m,k] · b[n,k]ᵀ: the linear
// layer y = x Wᵀ with W in Hugging Face's [out, in] layout. It runs on the
// inference engine's GEMM, whose per-element arithmetic does not depend on
// the thread count or on the row's position in the batch.
func (p pool) matABt(out, a, b []float32, m, k, n int, acc bool) {
	p.tensor().MatMulNT(out[:m*n], a[:m*k], b[:n*k], m, n, k, acc)
}

// matAB sets (or adds to) out[m,n] = a[m,k] · b[k,n]: the input gradient
// dx = dy W of a linear layer.
func (p pool) matAB(out, a, b []float32, m, k, n int, acc bool) {
	p.tensor().MatMulNN(out[:m*n], a[:m*k], b[:k*n], m, n, k, acc)
}

// matAtB sets (or adds to) out[k,n] = a[m,k]ᵀ · b[m,n]: the weight gradient
// dW = dyᵀ x.
func (p pool) matAtB(out, a, b []float32, m, k, n int, acc bool) {
	p.tensor().MatMulTN(out[:k*n], a[:m*k], b[:m*n], k, n, m, acc)
}
