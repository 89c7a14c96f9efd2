package tensor

// Scale multiplies every element of x by c in place (x[i] *= c, one
// rounded float32 product each, so the bits are the scalar loop's). The
// softmax uses it twice per row (the score scale and the normalisation);
// on amd64 with AVX2 it runs 32 elements per iteration.
func Scale(x []float32, c float32) {
	i := 0
	if n := len(x) &^ 31; useExpAsm && n > 0 {
		scaleAsm(x[:n], c)
		i = n
	}
	for ; i < len(x); i++ {
		x[i] *= c
	}
}
