package train

import (
	"fmt"
	"math"
)

// AdamW is torch.optim.AdamW (amsgrad=false, maximize=false) over a list of
// float32 parameter tensors: decoupled weight decay (p *= 1-lr*wd before the
// Adam update) and bias-corrected moments. The arithmetic follows PyTorch's
// single-tensor implementation operation by operation, in float32, with the
// scalar factors computed in float64 as Python does, so one step reproduces
// torch to float32 rounding.
type AdamW struct {
	Beta1, Beta2 float64
	Eps          float64
	WeightDecay  float64
	// Step counts the optimiser steps taken (torch's state["step"]).
	Step int
	// M and V are the first and second moments, one per parameter tensor.
	M, V [][]float32
}

// NewAdamW returns an optimiser for tensors of the given sizes with
// PyTorch's defaults for betas and eps.
func NewAdamW(sizes []int, weightDecay float64) *AdamW {
	o := &AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: weightDecay}
	o.M = make([][]float32, len(sizes))
	o.V = make([][]float32, len(sizes))
	for i, n := range sizes {
		o.M[i] = make([]float32, n)
		o.V[i] = make([]float32, n)
	}
	return o
}

// Update applies one step with learning rate lr to params given grads.
func (o *AdamW) Update(params, grads [][]float32, lr float64) error {
	if len(params) != len(o.M) || len(grads) != len(o.M) {
		return fmt.Errorf("adamw: %d params and %d grads for %d moment tensors", len(params), len(grads), len(o.M))
	}
	o.Step++
	bc1 := 1 - math.Pow(o.Beta1, float64(o.Step))
	bc2 := 1 - math.Pow(o.Beta2, float64(o.Step))
	stepSize := float32(lr / bc1)
	bc2Sqrt := float32(math.Sqrt(bc2))
	decay := float32(1 - lr*o.WeightDecay)
	w1 := float32(1 - o.Beta1)
	b2 := float32(o.Beta2)
	w2 := float32(1 - o.Beta2)
	eps := float32(o.Eps)
	for i, p := range params {
		g, m, v := grads[i], o.M[i], o.V[i]
		if len(p) != len(m) || len(g) != len(m) {
			return fmt.Errorf("adamw: tensor %d has %d values, grad %d, moments %d", i, len(p), len(g), len(m))
		}
		for j := range p {
			if o.WeightDecay != 0 {
				p[j] *= decay
			}
			// exp_avg.lerp_(grad, 1-beta1): torch's lerp for weight < 0.5 is
			// self + weight*(end-self).
			m[j] = m[j] + w1*(g[j]-m[j])
			v[j] = v[j]*b2 + w2*g[j]*g[j]
			denom := float32(math.Sqrt(float64(v[j])))/bc2Sqrt + eps
			p[j] = p[j] - stepSize*(m[j]/denom)
		}
	}
	return nil
}

// ClipGradNorm scales grads in place like torch.nn.utils.clip_grad_norm_
// (2-norm, error_if_nonfinite=false): the coefficient max/(norm+1e-6),
// clamped to 1, multiplies every gradient. It returns the total norm before
// clipping. maxNorm <= 0 only measures, as the HF Trainer skips clipping then.
func ClipGradNorm(grads [][]float32, maxNorm float64) float64 {
	// Per-tensor norms, then the norm of the norms, as torch does.
	var total float64
	for _, g := range grads {
		var s float64
		for _, x := range g {
			s += float64(x) * float64(x)
		}
		n := float64(float32(math.Sqrt(s)))
		total += n * n
	}
	norm := float64(float32(math.Sqrt(total)))
	if maxNorm <= 0 {
		return norm
	}
	coef := float32(maxNorm) / (float32(norm) + 1e-6)
	if coef > 1 {
		coef = 1
	}
	for _, g := range grads {
		for j := range g {
			g[j] *= coef
		}
	}
	return norm
}

// Schedule is a learning-rate multiplier as a function of the optimiser step
// (0-based, the value used by that step), as in transformers' schedulers.
type Schedule struct {
	Kind   string // cosine, linear, constant
	Warmup int
	Total  int
}

// WarmupSteps is TrainingArguments.get_warmup_steps: ceil(ratio*total).
func WarmupSteps(ratio float64, total int) int {
	if ratio <= 0 {
		return 0
	}
	return int(math.Ceil(ratio * float64(total)))
}

// NewSchedule checks the scheduler name.
func NewSchedule(kind string, warmupRatio float64, total int) (Schedule, error) {
	switch kind {
	case "", "cosine", "linear", "constant":
	default:
		return Schedule{}, fmt.Errorf("scheduler %q: want cosine, linear or constant", kind)
	}
	if kind == "" {
		kind = "cosine"
	}
	if warmupRatio < 0 || warmupRatio > 1 {
		return Schedule{}, fmt.Errorf("warmup ratio %v: want a value in [0, 1]", warmupRatio)
	}
	return Schedule{Kind: kind, Warmup: WarmupSteps(warmupRatio, total), Total: total}, nil
}

// Factor is the multiplier of the base learning rate at step (0-based):
// get_cosine_schedule_with_warmup (num_cycles 0.5),
// get_linear_schedule_with_warmup and get_constant_schedule_with_warmup.
func (s Schedule) Factor(step int) float64 {
	if step < s.Warmup {
		return float64(step) / float64(max(1, s.Warmup))
	}
	switch s.Kind {
	case "constant":
		return 1
	case "linear":
		return math.Max(0, float64(s.Total-step)/float64(max(1, s.Total-s.Warmup)))
	default:
		progress := float64(step-s.Warmup) / float64(max(1, s.Total-s.Warmup))
		return math.Max(0, 0.5*(1+math.Cos(math.Pi*0.5*2*progress)))
	}
}

// sizes lists the lengths of tensors (for NewAdamW).
func sizes(ts [][]float32) []int {
	s := make([]int, len(ts))
	for i, t := range ts {
		s[i] = len(t)
	}
	return s
}
