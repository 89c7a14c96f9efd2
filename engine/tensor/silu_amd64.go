//go:build !noasm

package tensor

//go:noescape
func siluMulAVX2(gate *float32, up *float32, n int)

// siluMulAsm runs the vector pass over g (len a positive multiple of 8).
func siluMulAsm(g, u []float32) {
	_ = u[len(g)-1]
	siluMulAVX2(&g[0], &u[0], len(g))
}
