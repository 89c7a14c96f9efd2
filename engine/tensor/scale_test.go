package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Scale gives the scalar loop's bits for every length around the 32-wide
// blocks and for factors and elements of every kind (subnormal products,
// overflow, zeros, infinities, NaN), on each path.
func TestScale(t *testing.T) {
	defer func(prev bool) { setExpAsm(prev) }(useExpAsm)
	rng := rand.New(rand.NewPCG(9, 10))
	factors := []float32{0.125, 1 / float32(math.Sqrt(32)), 3e-39, 1e30, -2, 0, float32(math.Inf(1)), float32(math.NaN())}
	for _, asm := range []bool{false, true} {
		if asm && !HasAssembly() {
			continue
		}
		setExpAsm(asm)
		for _, n := range []int{0, 1, 31, 32, 33, 64, 100, 1000} {
			for _, c := range factors {
				t.Run(fmt.Sprintf("asm=%v/n=%d/c=%v", asm, n, c), func(t *testing.T) {
					x := make([]float32, n)
					for i := range x {
						x[i] = math.Float32frombits(rng.Uint32())
						if i%3 == 0 {
							x[i] = float32(rng.NormFloat64())
						}
					}
					want := append([]float32(nil), x...)
					for i := range want {
						want[i] *= c
					}
					Scale(x, c)
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

// AddScaled gives the scalar loop's bits (multiply, round, add, round) for
// every length around the 32-wide blocks and values of every kind, on each
// path; x may be longer than y.
func TestAddScaled(t *testing.T) {
	defer func(prev bool) { setExpAsm(prev) }(useExpAsm)
	rng := rand.New(rand.NewPCG(11, 12))
	for _, asm := range []bool{false, true} {
		if asm && !HasAssembly() {
			continue
		}
		setExpAsm(asm)
		for _, n := range []int{0, 1, 31, 32, 33, 64, 100, 1000} {
			for _, c := range []float32{2, 0.0625, 1.7e-3, 3e38, float32(math.Inf(-1))} {
				t.Run(fmt.Sprintf("asm=%v/n=%d/c=%v", asm, n, c), func(t *testing.T) {
					y, x := make([]float32, n), make([]float32, n+5)
					for i := range y {
						y[i] = float32(rng.NormFloat64())
						if i%4 == 0 {
							y[i] = math.Float32frombits(rng.Uint32())
						}
					}
					for i := range x {
						x[i] = float32(rng.NormFloat64() * 1e-3)
						if i%5 == 0 {
							x[i] = math.Float32frombits(rng.Uint32())
						}
					}
					want := append([]float32(nil), y...)
					for i := range want {
						p := x[i] * c
						want[i] += p
					}
					AddScaled(y, x, c)
					for i := range y {
						if !sameF32(y[i], want[i]) {
							t.Fatalf("element %d: %v, want %v", i, y[i], want[i])
						}
					}
				})
			}
		}
	}
}
