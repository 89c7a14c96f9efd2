package tensor

import "sync"

// Pool keeps float32 buffers for reuse by calls that need large
// temporaries (a forward step's activations, a LoRA delta), so a long
// evaluation does not clear and collect fresh memory on every call. It is
// safe for concurrent use. Buffers from Get hold garbage: callers write
// them in full before reading.
type Pool struct{ p sync.Pool }

// Get returns a buffer of n elements.
func (p *Pool) Get(n int) []float32 {
	if b, ok := p.p.Get().(*[]float32); ok && cap(*b) >= n {
		return (*b)[:n]
	}
	return make([]float32, n)
}

// Put returns b to the pool; the caller must not use it afterwards.
func (p *Pool) Put(b []float32) { p.p.Put(&b) }

// Grow returns buf resliced to n elements, or a new buffer when buf's
// capacity is short: the scratch a loop keeps between iterations of
// varying size. A new buffer has a quarter more room, so that a slowly
// rising size does not reallocate each time. The contents are garbage, as
// from Get.
func Grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n, n+n/4)
	}
	return buf[:n]
}
