//go:build !noasm

package tensor

// useExpAsm selects the vector log-sum-exp passes and the other float32
// element-wise passes written the same way (SiluMul, Scale, AddScaled,
// RotateHalves, SumSquares, NormScale): AVX2, and Go code that rounds every
// multiply and add (see expsum.go). Tests switch it to compare both paths.
var useExpAsm = hasAVX2 && goLevel == ""

//go:noescape
func expNegSumAVX2(dst *float32, src *float32, n int, m float32, store int, s0 float64) float64

//go:noescape
func expNegSumExactAVX2(dst *float32, src *float32, n int, m float32, store int, thr float32, pf *float32) (s float64, done int)

//go:noescape
func expNegSumExactAVX512(dst *float32, src *float32, n int, m float32, store int, thr float32, pf *float32) (s float64, done int)

// expNegSumExact is the out-of-order pass of expNegSumAsm: sixteen lanes
// where the CPU has AVX-512 (1.6× eight), the same bits either way.
var expNegSumExact = expNegSumExactAVX2

func init() {
	if hasAVX512 {
		expNegSumExact = expNegSumExactAVX512
	}
}

//go:noescape
func maxAVX2(src *float32, n int) (m float32, nan bool)

// expNegSumAsm runs the vector pass over src (len a positive multiple of
// 8): blocks of 64 summed with vector adds while no add can round
// (exactThreshold), then one add at a time from the first block where one
// could. The out-of-order pass prefetches next (at least as long as the
// blocks it sums) into L2 as it goes, when next is not nil.
func expNegSumAsm(dst, src []float32, m float32, next []float32) float64 {
	store := 1
	if dst == nil {
		dst, store = src, 0
	}
	_ = dst[len(src)-1]
	var s float64
	i := 0
	if nb := len(src) &^ 63; nb > 0 {
		pf := &src[0]
		if len(next) >= nb {
			pf = &next[0]
		}
		s, i = expNegSumExact(&dst[0], &src[0], nb, m, store, exactThreshold(nb), pf)
		if i < nb && store == 1 {
			// The block it stopped in is stored; in place, src no longer
			// holds its inputs, so its values are summed from dst.
			for _, e := range dst[i : i+64] {
				s += float64(e)
			}
			i += 64
		}
	}
	if i < len(src) {
		s = expNegSumAVX2(&dst[i], &src[i], len(src)-i, m, store, s)
	}
	return s
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
