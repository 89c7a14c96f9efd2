// Package nprand reproduces, bit for bit, the draws of numpy's legacy
// random API (numpy.random.RandomState, which also backs the module-level
// np.random.seed / np.random.choice / np.random.randint).
//
// CrossIn's reference data builder draws every sample with that API after
// np.random.seed(0). Reproducing the paper's training sets item for item
// therefore needs the same generator and, as much, the same algorithms on
// top of it: numpy's legacy bounded integers are masked rejection sampling
// (not Lemire's method), its shuffle draws with a different interval
// routine, and choice with probabilities searches a cumulative sum. The
// legacy stream is frozen by NEP 19, so matching it once matches every
// numpy version. Every method says which numpy call it stands for; the tests
// compare them with Debian's python3-numpy.
package nprand

import (
	"fmt"
	"math"
	"math/bits"
	"sort"
)

const (
	n         = 624
	m         = 397
	matrixA   = 0x9908b0df
	upperMask = 0x80000000
	lowerMask = 0x7fffffff
)

// RandomState is numpy's legacy RandomState: MT19937 with numpy's seeding.
// It is not safe for concurrent use.
type RandomState struct {
	key [n]uint32
	pos int
}

// New returns the state after np.random.seed(seed) (equivalently
// numpy.random.RandomState(seed)) for an integer seed. numpy accepts
// integers in [0, 2^32) only, hence the type.
func New(seed uint32) *RandomState {
	r := &RandomState{}
	r.Seed(seed)
	return r
}

// Seed is np.random.seed(seed) for an integer: numpy seeds MT19937 with
// Matsumoto and Nishimura's init_genrand, not init_by_array.
func (r *RandomState) Seed(seed uint32) {
	r.key[0] = seed
	for i := 1; i < n; i++ {
		prev := r.key[i-1]
		r.key[i] = 1812433253*(prev^(prev>>30)) + uint32(i)
	}
	r.pos = n
}

// SeedArray is np.random.seed(array): MT19937's init_by_array over the
// array's values (each must be in [0, 2^32)). numpy squeezes the array
// first, so a one-element array seeds like the integer it holds.
func (r *RandomState) SeedArray(key []uint32) {
	if len(key) == 0 {
		panic("nprand: SeedArray of an empty array (numpy: seed must be non-empty)")
	}
	if len(key) == 1 {
		r.Seed(key[0])
		return
	}
	r.Seed(19650218)
	i, j := 1, 0
	k := n
	if len(key) > k {
		k = len(key)
	}
	for ; k > 0; k-- {
		prev := r.key[i-1]
		r.key[i] = (r.key[i] ^ ((prev ^ (prev >> 30)) * 1664525)) + key[j] + uint32(j)
		i++
		j++
		if i >= n {
			r.key[0] = r.key[n-1]
			i = 1
		}
		if j >= len(key) {
			j = 0
		}
	}
	for k = n - 1; k > 0; k-- {
		prev := r.key[i-1]
		r.key[i] = (r.key[i] ^ ((prev ^ (prev >> 30)) * 1566083941)) - uint32(i)
		i++
		if i >= n {
			r.key[0] = r.key[n-1]
			i = 1
		}
	}
	r.key[0] = 0x80000000
	r.pos = n
}

// Key returns the 624 words of the state and the position, as the second
// and third entries of numpy's RandomState.get_state().
func (r *RandomState) Key() ([n]uint32, int) { return r.key, r.pos }

func (r *RandomState) generate() {
	var i int
	mag := func(y uint32) uint32 { return -(y & 1) & matrixA }
	for i = 0; i < n-m; i++ {
		y := (r.key[i] & upperMask) | (r.key[i+1] & lowerMask)
		r.key[i] = r.key[i+m] ^ (y >> 1) ^ mag(y)
	}
	for ; i < n-1; i++ {
		y := (r.key[i] & upperMask) | (r.key[i+1] & lowerMask)
		r.key[i] = r.key[i+m-n] ^ (y >> 1) ^ mag(y)
	}
	y := (r.key[n-1] & upperMask) | (r.key[0] & lowerMask)
	r.key[n-1] = r.key[m-1] ^ (y >> 1) ^ mag(y)
	r.pos = 0
}

// Uint32 is the next raw 32-bit output of MT19937 (what
// randint(0, 2**32, dtype=np.uint64) returns).
func (r *RandomState) Uint32() uint32 {
	if r.pos == n {
		r.generate()
	}
	y := r.key[r.pos]
	r.pos++
	y ^= y >> 11
	y ^= (y << 7) & 0x9d2c5680
	y ^= (y << 15) & 0xefc60000
	y ^= y >> 18
	return y
}

// Uint64 is numpy's 64-bit output of MT19937: the first 32-bit output in the
// high half, the second in the low half.
func (r *RandomState) Uint64() uint64 {
	hi := uint64(r.Uint32())
	return hi<<32 | uint64(r.Uint32())
}

// RandomSample is random_sample() (np.random.random): a double in [0, 1)
// with 53 random bits from two 32-bit outputs.
func (r *RandomState) RandomSample() float64 {
	a := r.Uint32() >> 5
	b := r.Uint32() >> 6
	return (float64(a)*67108864.0 + float64(b)) / 9007199254740992.0
}

// mask is the smallest all-ones bit mask covering max.
func mask(max uint64) uint64 {
	if max == 0 {
		return 0
	}
	return math.MaxUint64 >> bits.LeadingZeros64(max)
}

// bounded is numpy's legacy bounded integer in [0, rng] (rng inclusive):
// masked rejection sampling on 32-bit outputs when rng < 2^32, on 64-bit
// outputs otherwise; rng 2^32-1 and 2^64-1 take one raw output.
func (r *RandomState) bounded(rng uint64) uint64 {
	switch {
	case rng == 0:
		return 0
	case rng == math.MaxUint32:
		return uint64(r.Uint32())
	case rng < math.MaxUint32:
		mk := uint32(mask(rng))
		for {
			if v := r.Uint32() & mk; uint64(v) <= rng {
				return uint64(v)
			}
		}
	case rng == math.MaxUint64:
		return r.Uint64()
	default:
		mk := mask(rng)
		for {
			if v := r.Uint64() & mk; v <= rng {
				return v
			}
		}
	}
}

// Randint is randint(low, high) with the default dtype (int64 on 64-bit
// Linux): an integer in [low, high). It panics if high <= low, as numpy
// raises.
func (r *RandomState) Randint(low, high int64) int64 {
	if high <= low {
		panic(fmt.Sprintf("nprand: Randint(%d, %d): low >= high", low, high))
	}
	rng := uint64(high) - uint64(low) - 1
	return int64(uint64(low) + r.bounded(rng))
}

// interval is numpy's random_interval(max), the draw of the legacy shuffle:
// a value in [0, max] by masked rejection (32-bit outputs when max fits).
// It equals bounded for every max except 2^32-1, where it still masks.
func (r *RandomState) interval(max uint64) uint64 {
	if max == 0 {
		return 0
	}
	mk := mask(max)
	if max <= math.MaxUint32 {
		for {
			if v := uint64(r.Uint32()) & mk; v <= max {
				return v
			}
		}
	}
	for {
		if v := r.Uint64() & mk; v <= max {
			return v
		}
	}
}

// Shuffle is shuffle(x) for a one-dimensional x of length n: for i from n-1
// down to 1, swap x[i] with x[j], j drawn in [0, i].
func (r *RandomState) Shuffle(n int, swap func(i, j int)) {
	for i := n - 1; i >= 1; i-- {
		j := int(r.interval(uint64(i)))
		swap(i, j)
	}
}

// Permutation is permutation(n): a shuffled arange(n).
func (r *RandomState) Permutation(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	r.Shuffle(n, func(i, j int) { p[i], p[j] = p[j], p[i] })
	return p
}

// Choice is choice(n) (and choice(a) for a sequence of length n): an index
// in [0, n), drawn as randint(0, n).
func (r *RandomState) Choice(n int) int { return int(r.Randint(0, int64(n))) }

// ChoiceNoReplace is choice(n, size, replace=False) without p: the first
// size entries of permutation(n). The whole permutation is drawn, so the
// stream advances by n-1 shuffle draws whatever size is.
func (r *RandomState) ChoiceNoReplace(n, size int) ([]int, error) {
	if size > n || size < 0 {
		return nil, fmt.Errorf("cannot take a sample of %d from a population of %d without replacement", size, n)
	}
	return r.Permutation(n)[:size], nil
}

// ChoiceP is choice(len(p), size, replace=True, p=p): size indices, each
// found by searching the normalized cumulative sum of p (side "right") for
// one random_sample. p must be non-negative and sum to 1 within numpy's
// tolerance (sqrt of float64 epsilon).
func (r *RandomState) ChoiceP(p []float64, size int) ([]int, error) {
	if len(p) == 0 {
		return nil, fmt.Errorf("a must be non-empty")
	}
	var sum, c float64 // Kahan summation, as numpy checks the total
	for _, x := range p {
		if x < 0 || math.IsNaN(x) {
			return nil, fmt.Errorf("probabilities are not non-negative")
		}
		y := x - c
		t := sum + y
		c = (t - sum) - y
		sum = t
	}
	if math.Abs(sum-1) > math.Sqrt(0x1p-52) {
		return nil, fmt.Errorf("probabilities do not sum to 1")
	}
	cdf := make([]float64, len(p))
	acc := 0.0
	for i, x := range p {
		acc += x
		cdf[i] = acc
	}
	last := cdf[len(cdf)-1]
	for i := range cdf {
		cdf[i] /= last
	}
	out := make([]int, size)
	for i := range out {
		u := r.RandomSample()
		out[i] = sort.Search(len(cdf), func(k int) bool { return cdf[k] > u })
	}
	return out, nil
}
