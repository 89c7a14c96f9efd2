package model

import (
	"math"
)

// RMSNorm writes rows of x normalised by their root mean square and scaled
// by w (or by 1+w when plusOne, Gemma's variant) into dst:
// dst = x · rsqrt(mean(x²) + eps) · w, computed in float32 like
// transformers' LlamaRMSNorm, with the mean accumulated in float64.
// It returns nothing; inv (if non-nil, length rows) receives each row's
// rsqrt factor, which a backward pass needs.
func RMSNorm(dst, x, w []float32, rows, dim int, eps float64, plusOne bool, inv []float32) {
	for i := 0; i < rows; i++ {
		xr := x[i*dim : (i+1)*dim]
		dr := dst[i*dim : (i+1)*dim]
		var ss float64
		for _, v := range xr {
			ss += float64(v) * float64(v)
		}
		r := float32(1 / math.Sqrt(float64(float32(ss/float64(dim)))+eps))
		if inv != nil {
			inv[i] = r
		}
		if plusOne {
			for j, v := range xr {
				dr[j] = (v * r) * (1 + w[j])
			}
		} else {
			for j, v := range xr {
				dr[j] = w[j] * (v * r)
			}
		}
	}
}

// Activation returns the gate activation named by hidden_act.
func Activation(name string) func(float32) float32 {
	switch name {
	case "gelu":
		return func(x float32) float32 {
			return float32(0.5 * float64(x) * (1 + math.Erf(float64(x)/math.Sqrt2)))
		}
	case "gelu_pytorch_tanh", "gelu_new", "gelu_fast":
		return func(x float32) float32 {
			v := float64(x)
			return float32(0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v))))
		}
	}
	return Silu
}

// Silu is x·sigmoid(x) = x / (1 + e^−x), in float32 as PyTorch computes it.
func Silu(x float32) float32 { return x / (1 + expf(-x)) }

// SoftmaxRow replaces a row of scores by their softmax (max-subtracted,
// float32 exponentials as PyTorch's float32 softmax, summed in float64).
func SoftmaxRow(s []float32) {
	mx := float32(math.Inf(-1))
	for _, v := range s {
		mx = max(mx, v)
	}
	if math.IsInf(float64(mx), -1) {
		clear(s)
		return
	}
	var sum float64
	for i, v := range s {
		e := expf(v - mx)
		s[i] = e
		sum += float64(e)
	}
	inv := float32(1 / sum)
	for i := range s {
		s[i] *= inv
	}
}

// LogSumExp of a row, in float64.
func LogSumExp(row []float32) float64 {
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

// expf is a float32 exponential accurate to about 2 ulp: x = n·ln2 + r
// with |r| ≤ ln2/2, exp(r) by a degree-7 Taylor polynomial, times 2ⁿ.
// It is 3–4× faster than math.Exp and used where transformers computes in
// float32 anyway (the SiLU gate).
func expf(x float32) float32 {
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
