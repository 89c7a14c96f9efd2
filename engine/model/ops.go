package model

import (
	"math"

	"github.com/crossin-lab/crossin/engine/tensor"
)

// RMSNorm writes rows of x normalised by their root mean square and scaled
// by w (or by 1+w when plusOne, Gemma's variant) into dst:
// dst = x · rsqrt(mean(x²) + eps) · w, computed in float32 like
// transformers' LlamaRMSNorm, with the mean accumulated in float64
// (tensor.SumSquares and tensor.NormScale vectorise the two passes with
// the scalar loops' bits).
// It returns nothing; inv (if non-nil, length rows) receives each row's
// rsqrt factor, which a backward pass needs.
func RMSNorm(dst, x, w []float32, rows, dim int, eps float64, plusOne bool, inv []float32) {
	for i := 0; i < rows; i++ {
		xr := x[i*dim : (i+1)*dim]
		dr := dst[i*dim : (i+1)*dim]
		ss := tensor.SumSquares(xr)
		r := float32(1 / math.Sqrt(float64(float32(ss/float64(dim)))+eps))
		if inv != nil {
			inv[i] = r
		}
		tensor.NormScale(dr, xr, w, r, plusOne)
	}
}

// Activation returns the gate activation named by hidden_act.
func Activation(name string) func(float32) float32 {
	if f := gelu(name); f != nil {
		return f
	}
	return Silu
}

// gelu returns the GELU variant named by hidden_act, or nil for any other
// name (SiLU).
func gelu(name string) func(float32) float32 {
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
	return nil
}

// Silu is x·sigmoid(x) = x / (1 + e^−x), in float32 as PyTorch computes it.
// The forward pass's gate runs it as tensor.SiluMul, which has its bits
// (TestGate).
func Silu(x float32) float32 { return x / (1 + tensor.Exp(-x)) }

// SoftmaxRow replaces a row of scores by their softmax (max-subtracted,
// float32 exponentials as PyTorch's float32 softmax, summed in float64 in
// index order, then scaled by the sum's float32 reciprocal;
// tensor.MaxRow, tensor.ExpSum and tensor.Scale vectorise the passes with
// the scalar loops' bits).
func SoftmaxRow(s []float32) {
	mx := tensor.MaxRow(s)
	if math.IsInf(float64(mx), -1) {
		clear(s)
		return
	}
	sum := tensor.ExpSum(s, s, mx)
	tensor.Scale(s, float32(1/sum))
}
