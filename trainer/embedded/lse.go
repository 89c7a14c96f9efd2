package embedded

import "math"

// logSumExp returns log Σ exp(row[i]) for a vocabulary-sized row of
// logits. It is the inner loop of option scoring (one call per option
// token over the whole vocabulary), so it uses a float32 polynomial exp
// (Cephes expf, relative error about 1e-7) with a float64 sum instead of
// math.Exp; the result agrees with the exact value to about 1e-6, far
// below the differences between options' log-likelihoods.
func logSumExp(row []float32) float64 {
	if len(row) == 0 {
		return math.Inf(-1)
	}
	mx := row[0]
	for _, v := range row[1:] {
		if v > mx {
			mx = v
		}
	}
	if math.IsInf(float64(mx), 0) || math.IsNaN(float64(mx)) {
		return float64(mx)
	}
	var s float64
	for _, v := range row {
		s += float64(expNeg(v - mx))
	}
	return float64(mx) + math.Log(s)
}

// expNeg is exp(x) for x <= 0 (Cephes expf).
func expNeg(x float32) float32 {
	if x < -87.3 {
		return 0
	}
	const (
		log2e = 1.44269504088896341
		c1    = 0.693359375
		c2    = -2.12194440e-4
	)
	fx := x*log2e + 0.5
	n := int32(fx)
	if float32(n) > fx { // floor for negatives
		n--
	}
	f := float32(n)
	x -= f * c1
	x -= f * c2
	z := x * x
	y := ((((1.9875691500e-4*x+1.3981999507e-3)*x+8.3334519073e-3)*x+4.1665795894e-2)*x+1.6666665459e-1)*x + 5.0000001201e-1
	y = y*z + x + 1
	return y * math.Float32frombits(uint32(n+127)<<23)
}
