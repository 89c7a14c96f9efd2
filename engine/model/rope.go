package model

import (
	"math"
	"sync"
	"sync/atomic"

	"github.com/crossin-lab/crossin/engine/tensor"
)

// Rope holds the rotary-embedding frequencies of a config, computed as
// transformers' ROPE_INIT_FUNCTIONS do (in float32, like its buffers).
type Rope struct {
	cfg      *Config
	dim      int
	invFreq  []float32 // dim/2
	attScale float32   // cos/sin multiplier (yarn's attention factor; else 1)

	// table caches the cos/sin of every position up to the largest seen,
	// so a forward pass looks them up instead of calling math.Cos and
	// math.Sin per row and frequency. Readers load it without locking;
	// growth replaces it under mu. The zero value is an empty table.
	table atomic.Pointer[ropeTable]
	mu    sync.Mutex
}

// ropeTable holds, for positions 0..n-1, the rows cos[p·half+j] and
// sin[p·half+j]: exactly the float32 values rotate used to compute per
// call (float64 cos/sin of the float32 angle, rounded, times attScale).
type ropeTable struct {
	n        int
	cos, sin []float32
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
	if !r.dynamicAt(maxPos) {
		return r.invFreq
	}
	s := r.cfg.Rope
	seq := maxPos + 1
	d := float64(r.dim)
	base := r.cfg.RopeTheta * math.Pow(s.Factor*float64(seq)/float64(r.originalContext())-(s.Factor-1), d/(d-2))
	return baseInvFreq(base, r.dim)
}

// dynamicAt reports whether a pass reaching position maxPos needs
// frequencies other than invFreq ("dynamic" scaling beyond the original
// context).
func (r *Rope) dynamicAt(maxPos int) bool {
	return r.cfg.Rope.Type == "dynamic" && maxPos+1 > r.originalContext()
}

func (r *Rope) originalContext() int {
	if o := r.cfg.Rope.OriginalMaxPositionEmbeddings; o != 0 {
		return o
	}
	return r.cfg.MaxPositionEmbeddings
}

// Apply rotates rows of x in place: x is rows × (heads·headDim), row i at
// position pos[i]. It computes q·cos + rotate_half(q)·sin with
// rotate_half(x) = (−x₂, x₁), as Llama does.
func (r *Rope) Apply(x []float32, rows, heads int, pos []int) {
	r.rotate(1, x, rows, heads, pos, false)
}

// ApplyInverse rotates by the opposite angles: it is the transpose of Apply
// (rotations are orthogonal), which a backward pass applies to gradients.
func (r *Rope) ApplyInverse(x []float32, rows, heads int, pos []int) {
	r.rotate(1, x, rows, heads, pos, true)
}

// ropeGrain is the rows per goroutine of a parallel rotation.
const ropeGrain = 64

// rotate is Apply (or ApplyInverse) with the rows split over th's
// goroutines: every row's rotation is independent, and the frequencies are
// chosen from all of pos first, so the bits do not depend on the split.
func (r *Rope) rotate(th tensor.Threads, x []float32, rows, heads int, pos []int, inverse bool) {
	half := r.dim / 2
	w := heads * r.dim // floats per row
	maxPos := 0
	for _, p := range pos[:rows] {
		maxPos = max(maxPos, p)
	}
	if r.dynamicAt(maxPos) {
		// Frequencies beyond the original context depend on maxPos, so
		// only passes within it share the table.
		inv := r.freqsFor(maxPos)
		th.Parallel(rows, ropeGrain, func(lo, hi int) {
			cos := make([]float32, half)
			sin := make([]float32, half)
			for i := lo; i < hi; i++ {
				ropeAngles(cos, sin, inv, pos[i], r.attScale)
				if inverse {
					negate(sin, sin)
				}
				rotateRow(x[i*w:(i+1)*w], heads, r.dim, cos, sin)
			}
		})
		return
	}
	t := r.tableFor(maxPos)
	th.Parallel(rows, ropeGrain, func(lo, hi int) {
		var neg []float32
		if inverse {
			neg = make([]float32, half)
		}
		for i := lo; i < hi; i++ {
			p := pos[i]
			sin := t.sin[p*half : (p+1)*half]
			if inverse {
				negate(neg, sin)
				sin = neg
			}
			rotateRow(x[i*w:(i+1)*w], heads, r.dim, t.cos[p*half:(p+1)*half], sin)
		}
	})
}

// ropeAngles writes the cos and sin of position p for the frequencies inv,
// scaled by att: the one definition of the values the table holds.
func ropeAngles(cos, sin, inv []float32, p int, att float32) {
	fp := float32(p)
	for j, f := range inv {
		a := f * fp
		cos[j] = float32(math.Cos(float64(a))) * att
		sin[j] = float32(math.Sin(float64(a))) * att
	}
}

// negate sets dst to -src: the inverse rotation's sines. They are stored
// and then read by rotateRow, as the rotation always did, so that where the
// compiler fuses multiply-adds (GOAMD64=v3) it fuses the same expressions.
func negate(dst, src []float32) {
	for j, v := range src[:len(dst)] {
		dst[j] = -v
	}
}

// rotateRow rotates the heads of one row: v·cos + rotate_half(v)·sin, by
// tensor.RotateHalves (vectorised with the scalar loop's bits).
func rotateRow(row []float32, heads, hd int, cos, sin []float32) {
	half := hd / 2
	cos, sin = cos[:half], sin[:half]
	if hd == 2*half {
		tensor.RotateHalves(row[:heads*hd], cos, sin)
		return
	}
	for h := 0; h < heads; h++ { // an odd head size: its last element stays
		tensor.RotateHalves(row[h*hd:h*hd+2*half], cos, sin)
	}
}

// tableFor returns a table covering positions 0..maxPos, growing the
// shared one if needed (to at least twice its size, within the model's
// context, so a stream of longer sequences does not regrow per call).
func (r *Rope) tableFor(maxPos int) *ropeTable {
	if t := r.table.Load(); t != nil && maxPos < t.n {
		return t
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.table.Load()
	if old != nil && maxPos < old.n {
		return old
	}
	half := r.dim / 2
	n := maxPos + 1
	if old != nil {
		n = max(n, min(2*old.n, r.cfg.MaxPositionEmbeddings))
	}
	t := &ropeTable{n: n, cos: make([]float32, n*half), sin: make([]float32, n*half)}
	p0 := 0
	if old != nil {
		copy(t.cos, old.cos)
		copy(t.sin, old.sin)
		p0 = old.n
	}
	for p := p0; p < n; p++ {
		ropeAngles(t.cos[p*half:(p+1)*half], t.sin[p*half:(p+1)*half], r.invFreq, p, r.attScale)
	}
	r.table.Store(t)
	return t
}
