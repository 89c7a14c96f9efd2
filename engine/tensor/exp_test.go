package tensor

import (
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"
)

func TestExpAccuracy(t *testing.T) {
	for _, tc := range []struct {
		name     string
		f        func(float32) float32
		lo, hi   float32
		step     float32
		maxRel   float64
		edges    map[float32]float32
		infAbove float32
	}{
		{name: "Exp", f: Exp, lo: -87, hi: 88, step: 0.00731, maxRel: 3e-7,
			edges: map[float32]float32{-200: 0, 0: 1}, infAbove: 100},
		{name: "ExpNeg", f: ExpNeg, lo: -87, hi: 0, step: 87.0 / 200000, maxRel: 3e-7,
			edges: map[float32]float32{-100: 0, 0: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			worst := 0.0
			for x := tc.lo; x < tc.hi; x += tc.step {
				got, want := float64(tc.f(x)), math.Exp(float64(x))
				if rel := math.Abs(got-want) / want; rel > worst {
					worst = rel
				}
			}
			if worst > tc.maxRel {
				t.Errorf("worst relative error %.3g > %.3g", worst, tc.maxRel)
			}
			for x, want := range tc.edges {
				if got := tc.f(x); got != want {
					t.Errorf("%s(%g) = %g, want %g", tc.name, x, got, want)
				}
			}
			if tc.infAbove != 0 && !math.IsInf(float64(tc.f(tc.infAbove)), 1) {
				t.Errorf("%s(%g) is not +Inf", tc.name, tc.infAbove)
			}
		})
	}
}

func TestLogSumExp(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, scale := range []float64{0.01, 1, 10, 100} {
		row := make([]float32, 32000)
		for i := range row {
			row[i] = float32(rng.NormFloat64() * scale)
		}
		got, want := LogSumExp(row), LogSumExpExact(row)
		if math.Abs(got-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Errorf("scale %g: %.9f, exact %.9f", scale, got, want)
		}
	}
	if got := LogSumExp(nil); !math.IsInf(got, -1) {
		t.Errorf("empty row: %v, want -Inf", got)
	}
	inf := float32(math.Inf(1))
	if got := LogSumExp([]float32{1, inf}); !math.IsInf(got, 1) {
		t.Errorf("row with +Inf: %v", got)
	}
}

func TestParallelNCoversEachIndexOnce(t *testing.T) {
	for _, tc := range []struct{ threads, n, grain int }{
		{0, 0, 1}, {1, 10, 1}, {3, 10, 1}, {4, 1000, 16}, {64, 5, 2}, {2, 7, 100},
	} {
		hits := make([]atomic.Int32, tc.n)
		ParallelN(tc.threads, tc.n, tc.grain, func(lo, hi int) {
			if hi-lo < 1 || (hi-lo < tc.grain && hi != tc.n) {
				t.Errorf("%+v: chunk [%d,%d)", tc, lo, hi)
			}
			for i := lo; i < hi; i++ {
				hits[i].Add(1)
			}
		})
		for i := range hits {
			if h := hits[i].Load(); h != 1 {
				t.Fatalf("%+v: index %d ran %d times", tc, i, h)
			}
		}
	}
}

func BenchmarkLogSumExp(b *testing.B) {
	row := make([]float32, 32000)
	for i := range row {
		row[i] = float32(i%97) * 0.01
	}
	b.Run("exact", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			LogSumExpExact(row)
		}
	})
	b.Run("fast", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			LogSumExp(row)
		}
	})
	// The same arithmetic with the vector passes off (expsum.go).
	b.Run("fast-scalar", func(b *testing.B) {
		defer setExpAsm(useExpAsm)
		setExpAsm(false)
		for i := 0; i < b.N; i++ {
			LogSumExp(row)
		}
	})
}
