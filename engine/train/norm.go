package train

import (
	"math"
)

// rmsNorm is LlamaRMSNorm: y = w * (x / sqrt(mean(x²)+eps)), float32 values
// with the mean accumulated in float64. It returns 1/rms per row.
func (n *Net) rmsNorm(y, x, w []float32, N int) []float32 {
	H := len(w)
	rs := make([]float32, N)
	eps := float32(n.Base.NormEps)
	n.pool.parallel(N, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xi := x[i*H : i*H+H]
			var s float64
			for _, v := range xi {
				s += float64(v) * float64(v)
			}
			r := float32(1 / math.Sqrt(float64(float32(s/float64(H))+eps)))
			rs[i] = r
			yi := y[i*H : i*H+H]
			for j, v := range xi {
				yi[j] = w[j] * (v * r)
			}
		}
	})
	return rs
}

// rmsNormBack adds to dx the gradient through y = w*(x*r).
func (n *Net) rmsNormBack(dx, dy, x, w, rs []float32, N int) {
	H := len(w)
	n.pool.parallel(N, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xi, dyi, dxi := x[i*H:i*H+H], dy[i*H:i*H+H], dx[i*H:i*H+H]
			r := float64(rs[i])
			var s float64
			for j := range xi {
				s += float64(dyi[j]) * float64(w[j]) * float64(xi[j])
			}
			c := s * r * r * r / float64(H)
			for j := range xi {
				dxi[j] += float32(float64(dyi[j])*float64(w[j])*r - float64(xi[j])*c)
			}
		}
	})
}
