//go:build !noasm

package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestExactThreshold(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want float32
	}{
		{64, 0x1p-23},    // 2n = 2^7
		{65, 0x1p-22},    // 2n = 130 ≤ 2^8
		{32000, 0x1p-14}, // 2n = 64000 ≤ 2^16
		{32768, 0x1p-14}, // 2n = 2^16
		{49152, 0x1p-13},
	} {
		if got := exactThreshold(tc.n); got != tc.want {
			t.Errorf("exactThreshold(%d) = %g, want %g", tc.n, got, tc.want)
		}
	}
}

// exactPass is one implementation of ExpNegSum's out-of-order pass.
type exactPass struct {
	name string
	fn   func(dst *float32, src *float32, n int, m float32, store int, thr float32, pf *float32) (float64, int)
}

// exactPasses are the implementations this CPU runs; the tests hold each
// to the same contract. Without AVX2 there are none, and the tests that
// use them say so and skip: the scalar path has its own tests.
func exactPasses(t *testing.T) []exactPass {
	var ps []exactPass
	if hasAVX2 {
		ps = append(ps, exactPass{"AVX2", expNegSumExactAVX2})
	}
	if hasAVX512 {
		ps = append(ps, exactPass{"AVX512", expNegSumExactAVX512})
	}
	if len(ps) == 0 {
		t.Skip("no AVX2 on this CPU: no vector pass to test")
	}
	return ps
}

// The vector pass sums out of order only the blocks it may: it runs to the
// end of a row near its maximum and stops at the block of the first value
// below the threshold or above 2, having stored that block too.
func TestExpNegSumExactStops(t *testing.T) {
	for _, p := range exactPasses(t) {
		t.Run(p.name, func(t *testing.T) { testExactStops(t, p.fn) })
	}
}

func testExactStops(t *testing.T, pass func(dst *float32, src *float32, n int, m float32, store int, thr float32, pf *float32) (float64, int)) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 4096
	flat := func() []float32 {
		r := make([]float32, n)
		for i := range r {
			r[i] = float32(rng.NormFloat64() * 0.3)
		}
		return r
	}
	thr := exactThreshold(n)
	for _, tc := range []struct {
		name     string
		at       int
		v        float32
		wantDone int
	}{
		{"flat", -1, 0, n},
		{"low in block 0", 5, -30, 0},
		{"low in block 3", 3*64 + 63, -30, 3 * 64},
		{"low in the last block", n - 1, -30, n - 64},
		{"above 2", 1000, 3, 1000 / 64 * 64},
		{"NaN", 700, float32(math.NaN()), 700 / 64 * 64},
		{"-NaN", 900, -float32(math.NaN()), 900 / 64 * 64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := flat()
			if tc.at >= 0 {
				src[tc.at] = tc.v
			}
			m := float32(1.5)                        // above every flat value; 3 - 1.5 > ln 2
			dst, other := make([]float32, n), flat() // other: the row prefetched
			s, done := pass(&dst[0], &src[0], n, m, 1, thr, &other[0])
			if done != tc.wantDone {
				t.Fatalf("stopped after %d values, want %d", done, tc.wantDone)
			}
			var want float64
			for i, v := range src[:done] {
				want += float64(ExpNeg(v - m))
				if !sameF32(dst[i], ExpNeg(v-m)) {
					t.Fatalf("dst[%d] = %v, want %v", i, dst[i], ExpNeg(v-m))
				}
			}
			if !sameF64(s, want) {
				t.Fatalf("sum %v, want %v", s, want)
			}
			if end := min(done+64, n); !sameF32(dst[end-1], ExpNeg(src[end-1]-m)) {
				t.Fatalf("the block it stopped in was not stored")
			}
		})
	}
}

// The threshold is what keeps the out-of-order sum exact: on a row whose
// small values carry bits below the in-order sum's last place, a quarter of
// it lets those values into the vector sum and the bits change, while the
// real threshold sends them to the in-order adds and keeps them.
func TestExactThresholdIsNeeded(t *testing.T) {
	passes := exactPasses(t)
	rng := rand.New(rand.NewPCG(5, 6))
	const n = 32000
	src := make([]float32, n)
	// Ones (the sum passes 2^14, whose last place is 2^-38), then values
	// in [2^-16, 2^-15), whose last bits are at 2^-39.
	for i := 3 * n / 4; i < n; i++ {
		src[i] = -11 + float32(rng.Float64()*0.55)
	}
	var want float64
	for _, v := range src {
		want += float64(ExpNeg(v))
	}
	if got := ExpNegSum(nil, src, 0); !sameF64(got, want) {
		t.Fatalf("ExpNegSum = %v, want the in-order %v", got, want)
	}
	for _, p := range passes {
		dst := make([]float32, n)
		loose, done := p.fn(&dst[0], &src[0], n, 0, 0, exactThreshold(n)/4, &src[0])
		if done != n {
			t.Fatalf("%s: with a quarter of the threshold the pass stopped at %d", p.name, done)
		}
		if sameF64(loose, want) {
			t.Fatalf("%s: a quarter of the threshold still gives the in-order bits: the row does not test the threshold", p.name)
		}
	}
}

// Every float32 argument in ExpNeg's domain (a stride through all of them)
// gives the scalar bits on each out-of-order pass: called on 64 values at
// a time, a pass computes and stores at least its first block.
func TestExpNegExactAllArguments(t *testing.T) {
	if goLevel != "" {
		t.Skip("no vector path in this build")
	}
	src := floatStride(0x80000000, 0xff800001) // -0 down to -Inf
	src = src[:len(src)&^63]
	for _, p := range exactPasses(t) {
		dst := make([]float32, len(src))
		for i := 0; i < len(src); i += 64 {
			p.fn(&dst[i], &src[i], 64, 0, 1, exactThreshold(64), &src[i])
		}
		for i, x := range src {
			if want := ExpNeg(x); !sameF32(dst[i], want) {
				t.Fatalf("%s: ExpNeg(%v) = %v, want %v", p.name, x, dst[i], want)
			}
		}
	}
}
