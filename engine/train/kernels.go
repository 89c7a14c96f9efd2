package train

import (
	"runtime"
	"sync"
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
// layer y = x Wᵀ with W in Hugging Face's [out, in] layout.
func (p pool) matABt(out, a, b []float32, m, k, n int, acc bool) {
	p.parallel(m, max(1, 4096/(k*n+1)), func(lo, hi int) {
		i := lo
		// Four rows of a at a time against one row of b: b is read once per
		// four outputs.
		for ; i+4 <= hi; i += 4 {
			a0 := a[i*k : i*k+k]
			a1 := a[(i+1)*k : (i+1)*k+k]
			a2 := a[(i+2)*k : (i+2)*k+k]
			a3 := a[(i+3)*k : (i+3)*k+k]
			o0 := out[i*n : i*n+n]
			o1 := out[(i+1)*n : (i+1)*n+n]
			o2 := out[(i+2)*n : (i+2)*n+n]
			o3 := out[(i+3)*n : (i+3)*n+n]
			for j := 0; j < n; j++ {
				bj := b[j*k : j*k+k]
				var s0, s1, s2, s3 float32
				var t0, t1, t2, t3 float32
				l := 0
				for ; l+2 <= k; l += 2 {
					x, y := bj[l], bj[l+1]
					s0 += a0[l] * x
					s1 += a1[l] * x
					s2 += a2[l] * x
					s3 += a3[l] * x
					t0 += a0[l+1] * y
					t1 += a1[l+1] * y
					t2 += a2[l+1] * y
					t3 += a3[l+1] * y
				}
				if l < k {
					x := bj[l]
					s0 += a0[l] * x
					s1 += a1[l] * x
					s2 += a2[l] * x
					s3 += a3[l] * x
				}
				if acc {
					o0[j] += s0 + t0
					o1[j] += s1 + t1
					o2[j] += s2 + t2
					o3[j] += s3 + t3
				} else {
					o0[j] = s0 + t0
					o1[j] = s1 + t1
					o2[j] = s2 + t2
					o3[j] = s3 + t3
				}
			}
		}
		for ; i < hi; i++ {
			ai := a[i*k : i*k+k]
			oi := out[i*n : i*n+n]
			for j := 0; j < n; j++ {
				bj := b[j*k : j*k+k]
				var s, t float32
				l := 0
				for ; l+2 <= k; l += 2 {
					s += ai[l] * bj[l]
					t += ai[l+1] * bj[l+1]
				}
				if l < k {
					s += ai[l] * bj[l]
				}
				if acc {
					oi[j] += s + t
				} else {
					oi[j] = s + t
				}
			}
		}
	})
}

// matAB sets (or adds to) out[m,n] = a[m,k] · b[k,n]: the input gradient
// dx = dy W of a linear layer.
func (p pool) matAB(out, a, b []float32, m, k, n int, acc bool) {
	p.parallel(m, max(1, 4096/(k*n+1)), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			oi := out[i*n : i*n+n]
			if !acc {
				clear(oi)
			}
			ai := a[i*k : i*k+k]
			l := 0
			for ; l+4 <= k; l += 4 {
				x0, x1, x2, x3 := ai[l], ai[l+1], ai[l+2], ai[l+3]
				b0 := b[l*n : l*n+n]
				b1 := b[(l+1)*n : (l+1)*n+n]
				b2 := b[(l+2)*n : (l+2)*n+n]
				b3 := b[(l+3)*n : (l+3)*n+n]
				for j := range oi {
					oi[j] += x0*b0[j] + x1*b1[j] + x2*b2[j] + x3*b3[j]
				}
			}
			for ; l < k; l++ {
				axpy(ai[l], b[l*n:l*n+n], oi)
			}
		}
	})
}

// matAtB sets (or adds to) out[k,n] = a[m,k]ᵀ · b[m,n]: the weight gradient
// dW = dyᵀ x. The reduction over the m rows runs in row order.
func (p pool) matAtB(out, a, b []float32, m, k, n int, acc bool) {
	p.parallel(k, max(1, 4096/(m*n+1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			or := out[r*n : r*n+n]
			if !acc {
				clear(or)
			}
			i := 0
			for ; i+4 <= m; i += 4 {
				x0, x1, x2, x3 := a[i*k+r], a[(i+1)*k+r], a[(i+2)*k+r], a[(i+3)*k+r]
				b0 := b[i*n : i*n+n]
				b1 := b[(i+1)*n : (i+1)*n+n]
				b2 := b[(i+2)*n : (i+2)*n+n]
				b3 := b[(i+3)*n : (i+3)*n+n]
				for j := range or {
					or[j] += x0*b0[j] + x1*b1[j] + x2*b2[j] + x3*b3[j]
				}
			}
			for ; i < m; i++ {
				axpy(a[i*k+r], b[i*n:i*n+n], or)
			}
		}
	})
}
