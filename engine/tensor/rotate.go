package tensor

// RotateHalves applies a rotation in place to each block of x, a block
// being 2·len(cos) consecutive elements whose first half a and second half
// b pair up: a[j], b[j] = a[j]·cos[j] − b[j]·sin[j], b[j]·cos[j] + a[j]·sin[j],
// each product rounded to float32 and then the difference or sum (no fused
// multiply-add), exactly as the scalar Go loop. This is rotary position
// embedding's rotate_half form, one block per attention head. On amd64
// with AVX2, eight pairs at a time when len(cos) is a multiple of 8.
func RotateHalves(x, cos, sin []float32) {
	half := len(cos)
	sin = sin[:half]
	if half == 0 {
		return
	}
	if useExpAsm && half%8 == 0 && len(x) >= 2*half {
		n := len(x) / (2 * half) * (2 * half)
		rotateHalvesAsm(x[:n], cos, sin)
		x = x[n:]
	}
	for len(x) >= 2*half {
		a, b := x[:half], x[half:2*half]
		for j := range a {
			p, q := a[j], b[j]
			a[j] = p*cos[j] - q*sin[j]
			b[j] = q*cos[j] + p*sin[j]
		}
		x = x[2*half:]
	}
}
