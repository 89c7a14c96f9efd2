//go:build !noasm

package tensor

//go:noescape
func sumSquaresAVX2(x *float32, n int) float64

//go:noescape
func normScaleAVX2(dst, x, w *float32, n int, r float32, plusOne bool)

// sumSquaresAVX2Asm runs the vector pass over x (len a positive multiple
// of 8).
func sumSquaresAVX2Asm(x []float32) float64 { return sumSquaresAVX2(&x[0], len(x)) }

// normScaleAsm runs the vector pass over dst (len a positive multiple of
// 8; x and w as long).
func normScaleAsm(dst, x, w []float32, r float32, plusOne bool) {
	_, _ = x[len(dst)-1], w[len(dst)-1]
	normScaleAVX2(&dst[0], &x[0], &w[0], len(dst), r, plusOne)
}
