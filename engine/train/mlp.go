package train

import (
	"fmt"
	"math"

	"github.com/crossin-lab/crossin/engine/model"
)

// The gated MLP's activation: a = act(g)·u, forward and backward. SwiGLU
// (silu: Llama, Mistral, Qwen2) and GeGLU (gelu, exact or with tanh:
// Gemma). The forward of GeGLU is the inference engine's own function, so
// training computes what inference computes.

// gate is one activation: f and its derivative df.
type gate struct {
	f, df func(float32) float32
}

// gateFor returns the activation named by hidden_act.
func gateFor(act string) (gate, error) {
	switch act {
	case "", "silu", "swish":
		return gate{f: silu, df: dsilu}, nil
	case "gelu_pytorch_tanh", "gelu_new", "gelu_fast":
		return gate{f: model.Activation(act), df: dgeluTanh}, nil
	case "gelu":
		return gate{f: model.Activation(act), df: dgeluErf}, nil
	}
	return gate{}, fmt.Errorf("train: hidden_act %q has no backward pass (supported: silu, gelu, gelu_pytorch_tanh)", act)
}

// gateForward sets a = act(g)·u, element by element (in parallel: each
// element is its own output).
func (n *Net) gateForward(a, g, u []float32) {
	n.pool.parallel(len(g), 2048, func(lo, hi int) {
		if n.act.f == nil {
			// SwiGLU inline: the loop the training forward always ran.
			for i := lo; i < hi; i++ {
				a[i] = silu(g[i]) * u[i]
			}
			return
		}
		for i := lo; i < hi; i++ {
			a[i] = n.act.f(g[i]) * u[i]
		}
	})
}

// gateBack sets dg and du from da for a = act(g)·u.
func (n *Net) gateBack(dg, du, da, g, u []float32) {
	n.pool.parallel(len(g), 2048, func(lo, hi int) {
		if n.act.f == nil {
			for i := lo; i < hi; i++ {
				gv := g[i]
				sg := 1 / (1 + float32(math.Exp(float64(-gv))))
				du[i] = da[i] * gv * sg
				dg[i] = da[i] * u[i] * sg * (1 + gv*(1-sg))
			}
			return
		}
		for i := lo; i < hi; i++ {
			du[i] = da[i] * n.act.f(g[i])
			dg[i] = da[i] * u[i] * n.act.df(g[i])
		}
	})
}

// silu is x·sigmoid(x) in float32, as torch computes it (x / (1 + exp(-x))).
func silu(x float32) float32 {
	return x / (1 + float32(math.Exp(float64(-x))))
}

// dsilu is silu's derivative, sigmoid(x)·(1 + x·(1 − sigmoid(x))).
func dsilu(x float32) float32 {
	sg := 1 / (1 + float32(math.Exp(float64(-x))))
	return sg * (1 + x*(1-sg))
}

// dgeluTanh is the derivative of 0.5·x·(1 + tanh(k·(x + 0.044715·x³))),
// k = sqrt(2/π), in float64.
func dgeluTanh(x float32) float32 {
	v := float64(x)
	k := math.Sqrt(2 / math.Pi)
	t := math.Tanh(k * (v + 0.044715*v*v*v))
	return float32(0.5*(1+t) + 0.5*v*(1-t*t)*k*(1+3*0.044715*v*v))
}

// dgeluErf is the derivative of 0.5·x·(1 + erf(x/√2)).
func dgeluErf(x float32) float32 {
	v := float64(x)
	return float32(0.5*(1+math.Erf(v/math.Sqrt2)) + v*math.Exp(-v*v/2)/math.Sqrt(2*math.Pi))
}
