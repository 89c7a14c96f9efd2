package tensor

import (
	"math"
	"testing"
)

// BenchmarkElementwise runs each vectorised element-wise pass on its vector
// path and, as the baseline in the same run, on the scalar Go loop it
// reproduces (asm=false): the ratio is the speed-up. Row lengths are the
// quickstart's: a 344-wide MLP row, a 320-key softmax row, a 128-wide
// hidden row, 4 heads of 32.
func BenchmarkElementwise(b *testing.B) {
	defer func(prev bool) { setExpAsm(prev) }(useExpAsm)
	row := func(n int, f func(i int) float32) []float32 {
		r := make([]float32, n)
		for i := range r {
			r[i] = f(i)
		}
		return r
	}
	g0 := row(344, func(i int) float32 { return float32(math.Sin(float64(i))) * 4 })
	u := row(344, func(i int) float32 { return float32(math.Cos(float64(i))) })
	s0 := row(320, func(i int) float32 { return float32(i%97) * -0.05 })
	h := row(128, func(i int) float32 { return float32(i%13) - 6 })
	w := row(128, func(i int) float32 { return 1 + float32(i%5)*0.01 })
	cs := row(16, func(i int) float32 { return float32(math.Cos(float64(i))) })
	sn := row(16, func(i int) float32 { return float32(math.Sin(float64(i))) })
	g, s, x, dst := make([]float32, 344), make([]float32, 320), make([]float32, 128), make([]float32, 128)
	kernels := []struct {
		name string
		fn   func()
	}{
		{"SiluMul", func() { copy(g, g0); SiluMul(g, u) }},
		{"ExpSum", func() { ExpSum(s, s0, 0.5) }},
		{"Scale", func() { copy(s, s0); Scale(s, 0.125) }},
		{"AddScaled", func() { copy(g, g0); AddScaled(g, u, 0.5) }},
		{"RotateHalves", func() { copy(x, h); RotateHalves(x, cs, sn) }},
		{"SumSquares", func() { SumSquares(h) }},
		{"NormScale", func() { NormScale(dst, h, w, 0.3, false) }},
	}
	for _, k := range kernels {
		for _, asm := range []bool{true, false} {
			if asm && !HasAssembly() {
				continue
			}
			name := k.name + "/vector"
			if !asm {
				name = k.name + "/scalar"
			}
			b.Run(name, func(b *testing.B) {
				setExpAsm(asm)
				for i := 0; i < b.N; i++ {
					k.fn()
				}
			})
		}
	}
}
