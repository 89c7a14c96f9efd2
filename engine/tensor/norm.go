package tensor

// SumSquares returns Σ float64(x[i])² added in index order in float64:
// the mean square of an RMS norm. The squares of float32 values are exact
// in float64, so only the order of the adds matters, and it is the
// scalar loop's; on amd64 with AVX2 the squares are formed four at a time
// and the sum stays one chain of scalar adds.
func SumSquares(x []float32) float64 {
	var s float64
	i := 0
	if n := len(x) &^ 7; useExpAsm && n > 0 {
		s, i = sumSquaresAVX2Asm(x[:n]), n
	}
	for _, v := range x[i:] {
		s += float64(v) * float64(v)
	}
	return s
}

// NormScale writes an RMS norm's output: dst[j] = w[j]·(x[j]·r), or
// (x[j]·r)·(1+w[j]) when plusOne (Gemma's weights), each operation rounded
// to float32 in that order, as the scalar loops. On amd64 with AVX2 eight
// elements at a time.
func NormScale(dst, x, w []float32, r float32, plusOne bool) {
	x, w = x[:len(dst)], w[:len(dst)]
	i := 0
	if n := len(dst) &^ 7; useExpAsm && n > 0 {
		normScaleAsm(dst[:n], x[:n], w[:n], r, plusOne)
		i = n
	}
	if plusOne {
		for ; i < len(dst); i++ {
			dst[i] = (x[i] * r) * (1 + w[i])
		}
		return
	}
	for ; i < len(dst); i++ {
		dst[i] = w[i] * (x[i] * r)
	}
}
