package train

import "math"

// The gated MLP's activation: a = act(g)·u, forward and backward.

// gateForward sets a = silu(g)·u (SwiGLU).
func (n *Net) gateForward(a, g, u []float32) {
	for i, gv := range g {
		a[i] = silu(gv) * u[i]
	}
}

// gateBack sets dg and du from da for a = silu(g)·u.
func (n *Net) gateBack(dg, du, da, g, u []float32) {
	for i, gv := range g {
		sg := 1 / (1 + float32(math.Exp(float64(-gv))))
		du[i] = da[i] * gv * sg
		dg[i] = da[i] * u[i] * sg * (1 + gv*(1-sg))
	}
}

// silu is x·sigmoid(x) in float32, as torch computes it (x / (1 + exp(-x))).
func silu(x float32) float32 {
	return x / (1 + float32(math.Exp(float64(-x))))
}
