//go:build !noasm

package tensor

// useExpAsm selects the vector log-sum-exp passes and the other float32
// element-wise passes written the same way (SiluMul, Scale, AddScaled,
// RotateHalves, SumSquares, NormScale): AVX2, and Go code that rounds every
// multiply and add (see expsum.go). Tests switch it to compare both paths.
var useExpAsm = hasAVX2 && goLevel == ""

//go:noescape
func expNegSumAVX2(dst *float32, src *float32, n int, m float32, store int) float64

//go:noescape
func maxAVX2(src *float32, n int) (m float32, nan bool)

// expNegSumAsm runs the vector pass over src (len a positive multiple of 8).
func expNegSumAsm(dst, src []float32, m float32) float64 {
	if dst == nil {
		return expNegSumAVX2(&src[0], &src[0], len(src), m, 0)
	}
	_ = dst[len(src)-1]
	return expNegSumAVX2(&dst[0], &src[0], len(src), m, 1)
}

// maxAsm is the vector max over src (len a positive multiple of 32).
func maxAsm(src []float32) (float32, bool) { return maxAVX2(&src[0], len(src)) }

func setExpAsm(on bool) { useExpAsm = on && hasAVX2 && goLevel == "" }

//go:noescape
func expSumAVX2(dst *float32, src *float32, n int, m float32) float64

// expSumAsm runs the vector Exp pass over src (len a positive multiple of 8).
func expSumAsm(dst, src []float32, m float32) float64 {
	_ = dst[len(src)-1]
	return expSumAVX2(&dst[0], &src[0], len(src), m)
}
