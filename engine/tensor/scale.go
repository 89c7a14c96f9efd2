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

// AddScaled adds x·c to y element by element (y[i] += x[i]*c, the product
// rounded to float32 and then the sum: no fused multiply-add, so the bits
// are the scalar Go loop's). A LoRA delta is added to its projection's
// output this way; on amd64 with AVX2 it runs 32 elements per iteration.
func AddScaled(y, x []float32, c float32) {
	x = x[:len(y)]
	i := 0
	if n := len(y) &^ 31; useExpAsm && n > 0 {
		addScaledAsm(y[:n], x[:n], c)
		i = n
	}
	for ; i < len(y); i++ {
		y[i] += x[i] * c
	}
}
