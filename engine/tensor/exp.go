package tensor

import "math"

// This file is the one home of the engine's float32 exponentials and
// log-sum-exp. Two exponentials exist because they are different
// arithmetic, and the bytes of results depend on which one runs:
//
//   - Exp is full-range (a degree-7 Taylor polynomial after reduction by
//     ln 2, subnormal results included). The inference forward pass uses
//     it for the SiLU gate and the attention softmax.
//   - ExpNeg is Cephes' expf for x ≤ 0 (a degree-6 minimax polynomial). The
//     training loss and option scoring use it once per vocabulary logit,
//     where math.Exp's float64 path was a quarter of a training step.
//
// Both are within about 2 ulp of exp. Replacing one by the other changes
// outputs in their last bits, so it needs a new engine version.

// Exp is exp(x) in float32 for any x.
func Exp(x float32) float32 {
	switch {
	case x != x:
		return x
	case x > 88.72283:
		return float32(math.Inf(1))
	case x < -103.97:
		return 0
	}
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693145751953125
		ln2lo = 1.42860682030941723212e-6
	)
	n := float32(math.Floor(float64(x*log2e) + 0.5))
	r := x - n*ln2hi - n*ln2lo
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040)))))))
	ni := int32(n)
	if ni < -126 { // subnormal result: scale in two steps
		return p * math.Float32frombits(uint32(ni+126+127)<<23) * math.Float32frombits(1<<23)
	}
	return p * math.Float32frombits(uint32(ni+127)<<23)
}

// ExpNeg is exp(x) in float32 for x ≤ 0 (Cephes' expf: range reduction by
// ln 2 in two parts and a degree-6 polynomial, within 2 ulp). Inputs below
// -87 underflow to 0; positive inputs are outside its domain.
func ExpNeg(x float32) float32 {
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

// LogSumExp returns log Σ exp(row[i]) with ExpNeg and a float64 sum, in
// index order (MaxRow and ExpNegSum, vectorised where they can be): the fast path for vocabulary-sized rows, within about 1e-6
// of the exact value. An empty row gives -Inf; a row whose maximum is
// infinite or NaN gives that maximum.
func LogSumExp(row []float32) float64 { return LogSumExpNext(row, nil) }

// LogSumExpNext is LogSumExp that prefetches next as it goes
// (ExpNegSumNext): for a loop over the rows of a large matrix.
func LogSumExpNext(row, next []float32) float64 {
	if len(row) == 0 {
		return math.Inf(-1)
	}
	mx := MaxRow(row)
	if math.IsInf(float64(mx), 0) || math.IsNaN(float64(mx)) {
		return float64(mx)
	}
	return float64(mx) + math.Log(ExpNegSumNext(nil, row, mx, next))
}

// LogSumExpExact is log Σ exp(row[i]) computed in float64 with math.Exp:
// the reference the fast path is checked against, and what generation's
// log-probabilities use.
func LogSumExpExact(row []float32) float64 {
	mx := math.Inf(-1)
	for _, v := range row {
		mx = math.Max(mx, float64(v))
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v) - mx)
	}
	return mx + math.Log(s)
}
