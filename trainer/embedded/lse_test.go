package embedded

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/crossin-lab/crossin/engine/model"
)

func TestLogSumExpMatchesExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, scale := range []float64{0.01, 1, 10, 100} {
		row := make([]float32, 32000)
		for i := range row {
			row[i] = float32(rng.NormFloat64() * scale)
		}
		got, want := logSumExp(row), model.LogSumExp(row)
		if math.Abs(got-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Errorf("scale %g: %.9f, exact %.9f", scale, got, want)
		}
	}
	for _, x := range []float32{0, -1e-3, -0.5, -1, -10, -80, -87, -88, -1000} {
		got, want := float64(expNeg(x)), math.Exp(float64(x))
		if math.Abs(got-want) > 2e-7*want+1e-38 {
			t.Errorf("exp(%g) = %g, want %g", x, got, want)
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
			model.LogSumExp(row)
		}
	})
	b.Run("fast", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			logSumExp(row)
		}
	})
}
