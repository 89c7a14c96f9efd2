package train

import "math"

// expf is exp(x) for x <= 0 in float32 (Cephes' expf: range reduction by
// ln 2 and a degree-6 polynomial, within 2 ulp). The softmax over a 32k-50k
// vocabulary calls it once per logit, where math.Exp's float64 path was a
// quarter of the training step. Inputs below -87 underflow to 0.
func expf(x float32) float32 {
	if x < -87 {
		return 0
	}
	const (
		log2e = 1.44269504088896341
		c1    = 0.693359375
		c2    = -2.12194440e-4
	)
	fn := float32(math.Floor(float64(x*log2e + 0.5)))
	r := x - fn*c1 - fn*c2
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	y := p*r*r + r + 1
	return y * math.Float32frombits(uint32(int32(fn)+127)<<23)
}
