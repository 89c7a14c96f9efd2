package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// RotateHalves gives the scalar loop's bits for block halves on and off
// the 8-lane path, one block or many, and values of every kind, on each
// path.
func TestRotateHalves(t *testing.T) {
	defer func(prev bool) { setExpAsm(prev) }(useExpAsm)
	rng := rand.New(rand.NewPCG(13, 14))
	for _, asm := range []bool{false, true} {
		if asm && !HasAssembly() {
			continue
		}
		setExpAsm(asm)
		for _, half := range []int{0, 1, 4, 8, 16, 24, 64} {
			for _, blocks := range []int{0, 1, 3, 9} {
				t.Run(fmt.Sprintf("asm=%v/half=%d/blocks=%d", asm, half, blocks), func(t *testing.T) {
					x := make([]float32, blocks*2*half)
					cos, sin := make([]float32, half), make([]float32, half)
					for i := range x {
						x[i] = float32(rng.NormFloat64() * 3)
						if i%7 == 0 {
							x[i] = math.Float32frombits(rng.Uint32())
						}
					}
					for j := range cos {
						a := rng.Float64() * 100
						cos[j], sin[j] = float32(math.Cos(a)), float32(math.Sin(a))
						if j%5 == 0 {
							cos[j] = math.Float32frombits(rng.Uint32())
						}
					}
					want := append([]float32(nil), x...)
					for k := 0; k < blocks; k++ {
						a, b := want[k*2*half:k*2*half+half], want[k*2*half+half:(k+1)*2*half]
						for j := range a {
							p, q := a[j], b[j]
							a[j] = p*cos[j] - q*sin[j]
							b[j] = q*cos[j] + p*sin[j]
						}
					}
					RotateHalves(x, cos, sin)
					for i := range x {
						if !sameF32(x[i], want[i]) {
							t.Fatalf("element %d: %v, want %v", i, x[i], want[i])
						}
					}
				})
			}
		}
	}
}
