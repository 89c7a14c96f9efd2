//go:build !noasm

package tensor

//go:noescape
func rotateHalvesAVX2(x, cos, sin *float32, blocks, half int)

// rotateHalvesAsm rotates the blocks of x (len a positive multiple of
// 2·len(cos), len(cos) a positive multiple of 8).
func rotateHalvesAsm(x, cos, sin []float32) {
	half := len(cos)
	_ = sin[half-1]
	rotateHalvesAVX2(&x[0], &cos[0], &sin[0], len(x)/(2*half), half)
}
