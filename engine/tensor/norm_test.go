package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// SumSquares and NormScale give the scalar loops' bits for lengths around
// the 8-wide blocks and values of every kind (huge, tiny, subnormal,
// infinite, NaN), on each path.
func TestNormKernels(t *testing.T) {
	defer func(prev bool) { setExpAsm(prev) }(useExpAsm)
	rng := rand.New(rand.NewPCG(15, 16))
	for _, asm := range []bool{false, true} {
		if asm && !HasAssembly() {
			continue
		}
		setExpAsm(asm)
		for _, n := range []int{0, 1, 7, 8, 9, 16, 100, 128, 4099} {
			t.Run(fmt.Sprintf("asm=%v/n=%d", asm, n), func(t *testing.T) {
				x, w := make([]float32, n), make([]float32, n+2)
				for i := range x {
					x[i] = float32(rng.NormFloat64())
					switch i % 9 {
					case 3:
						x[i] = math.Float32frombits(rng.Uint32())
					case 5:
						x[i] *= 1e-20
					}
				}
				for i := range w {
					w[i] = float32(1 + rng.NormFloat64()*0.1)
					if i%11 == 4 {
						w[i] = math.Float32frombits(rng.Uint32())
					}
				}
				var ss float64
				for _, v := range x {
					ss += float64(v) * float64(v)
				}
				if got := SumSquares(x); !sameF64(got, ss) {
					t.Fatalf("SumSquares = %v, want %v", got, ss)
				}
				for _, r := range []float32{0.37, 3e-30, 1e20} {
					for _, plusOne := range []bool{false, true} {
						dst := make([]float32, n)
						NormScale(dst, x, w, r, plusOne)
						for j, v := range x {
							want := w[j] * (v * r)
							if plusOne {
								want = (v * r) * (1 + w[j])
							}
							if !sameF32(dst[j], want) {
								t.Fatalf("NormScale(r=%v, plusOne=%v)[%d] = %v, want %v", r, plusOne, j, dst[j], want)
							}
						}
					}
				}
			})
		}
	}
}
