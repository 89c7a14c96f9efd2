//go:build !noasm

package tensor

//go:noescape
func scaleAVX2(x *float32, n int, c float32)

// scaleAsm runs the vector pass over x (len a positive multiple of 32).
func scaleAsm(x []float32, c float32) { scaleAVX2(&x[0], len(x), c) }

//go:noescape
func addScaledAVX2(y, x *float32, n int, c float32)

// addScaledAsm runs the vector pass over y (len a positive multiple of 32).
func addScaledAsm(y, x []float32, c float32) {
	_ = x[len(y)-1]
	addScaledAVX2(&y[0], &x[0], len(y), c)
}
