package model

import (
	"math"
)

// Rope holds the rotary-embedding frequencies of a config, computed as
// transformers' ROPE_INIT_FUNCTIONS do (in float32, like its buffers).
type Rope struct {
	cfg      *Config
	dim      int
	invFreq  []float32 // dim/2
	attScale float32   // cos/sin multiplier (yarn's attention factor; else 1)
}

// NewRope computes the inverse frequencies for c.
func NewRope(c *Config) *Rope {
	r := &Rope{cfg: c, dim: c.HeadDim, attScale: 1}
	r.invFreq = baseInvFreq(c.RopeTheta, r.dim)
	s := c.Rope
	switch s.Type {
	case "linear":
		for i := range r.invFreq {
			r.invFreq[i] /= float32(s.Factor)
		}
	case "llama3":
		old := float64(s.OriginalMaxPositionEmbeddings)
		lowWave := old / s.LowFreqFactor
		highWave := old / s.HighFreqFactor
		for i, f := range r.invFreq {
			wl := 2 * math.Pi / float64(f)
			v := float64(f)
			if wl > lowWave {
				v = float64(f) / s.Factor
			}
			if !(wl < highWave) && !(wl > lowWave) {
				smooth := (old/wl - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor)
				v = (1-smooth)*v/s.Factor + smooth*v
			}
			r.invFreq[i] = float32(v)
		}
	case "yarn":
		r.invFreq, r.attScale = yarn(c)
	}
	return r
}

func baseInvFreq(theta float64, dim int) []float32 {
	inv := make([]float32, dim/2)
	for i := range inv {
		// 1.0 / (base ** (arange(0, d, 2).float() / d)): a float32 power,
		// then a float32 reciprocal.
		e := float32(2*i) / float32(dim)
		p := float32(math.Pow(float64(float32(theta)), float64(e)))
		inv[i] = 1 / p
	}
	return inv
}

func yarn(c *Config) ([]float32, float32) {
	s := c.Rope
	dim := c.HeadDim
	base := c.RopeTheta
	orig := float64(s.OriginalMaxPositionEmbeddings)
	if orig == 0 {
		orig = float64(c.MaxPositionEmbeddings)
	}
	getMscale := func(scale, m float64) float64 {
		if scale <= 1 {
			return 1
		}
		return 0.1*m*math.Log(scale) + 1
	}
	att := s.AttentionFactor
	if att == 0 {
		if s.Mscale != 0 && s.MscaleAllDim != 0 {
			att = getMscale(s.Factor, s.Mscale) / getMscale(s.Factor, s.MscaleAllDim)
		} else {
			att = getMscale(s.Factor, 1)
		}
	}
	corr := func(rot float64) float64 {
		return float64(dim) * math.Log(orig/(rot*2*math.Pi)) / (2 * math.Log(base))
	}
	low, high := corr(s.BetaFast), corr(s.BetaSlow)
	if s.Truncate == nil || *s.Truncate {
		low, high = math.Floor(low), math.Ceil(high)
	}
	low, high = math.Max(low, 0), math.Min(high, float64(dim-1))
	if low == high {
		high += 0.001
	}
	inv := make([]float32, dim/2)
	for i := range inv {
		pos := math.Pow(base, float64(float32(2*i)/float32(dim)))
		extra := 1 / pos
		inter := 1 / (s.Factor * pos)
		ramp := math.Min(math.Max((float64(i)-low)/(high-low), 0), 1)
		ef := 1 - ramp
		inv[i] = float32(inter*(1-ef) + extra*ef)
	}
	return inv, float32(att)
}

// freqsFor returns the inverse frequencies for a forward pass whose
// largest position is maxPos. Only "dynamic" scaling depends on it: beyond
// the original context it raises the base as transformers'
// dynamic_rope_update does (recomputed per call rather than kept as state).
func (r *Rope) freqsFor(maxPos int) []float32 {
	s := r.cfg.Rope
	if s.Type != "dynamic" {
		return r.invFreq
	}
	orig := s.OriginalMaxPositionEmbeddings
	if orig == 0 {
		orig = r.cfg.MaxPositionEmbeddings
	}
	seq := maxPos + 1
	if seq <= orig {
		return r.invFreq
	}
	d := float64(r.dim)
	base := r.cfg.RopeTheta * math.Pow(s.Factor*float64(seq)/float64(orig)-(s.Factor-1), d/(d-2))
	return baseInvFreq(base, r.dim)
}

// Apply rotates rows of x in place: x is rows × (heads·headDim), row i at
// position pos[i]. It computes q·cos + rotate_half(q)·sin with
// rotate_half(x) = (−x₂, x₁), as Llama does.
func (r *Rope) Apply(x []float32, rows, heads int, pos []int) { r.rotate(x, rows, heads, pos, false) }

// ApplyInverse rotates by the opposite angles: it is the transpose of Apply
// (rotations are orthogonal), which a backward pass applies to gradients.
func (r *Rope) ApplyInverse(x []float32, rows, heads int, pos []int) {
	r.rotate(x, rows, heads, pos, true)
}

func (r *Rope) rotate(x []float32, rows, heads int, pos []int, inverse bool) {
	hd := r.dim
	half := hd / 2
	maxPos := 0
	for _, p := range pos[:rows] {
		maxPos = max(maxPos, p)
	}
	inv := r.freqsFor(maxPos)
	cos := make([]float32, half)
	sin := make([]float32, half)
	for i := 0; i < rows; i++ {
		p := float32(pos[i])
		for j := 0; j < half; j++ {
			f := inv[j] * p
			cos[j] = float32(math.Cos(float64(f))) * r.attScale
			sin[j] = float32(math.Sin(float64(f))) * r.attScale
			if inverse {
				sin[j] = -sin[j]
			}
		}
		row := x[i*heads*hd : (i+1)*heads*hd]
		for h := 0; h < heads; h++ {
			v := row[h*hd : (h+1)*hd]
			for j := 0; j < half; j++ {
				a, b := v[j], v[j+half]
				v[j] = a*cos[j] - b*sin[j]
				v[j+half] = b*cos[j] + a*sin[j]
			}
		}
	}
}
