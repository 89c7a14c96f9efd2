package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func refSiluMul(g, u []float32) []float32 {
	out := make([]float32, len(g))
	for i, x := range g {
		out[i] = x / (1 + Exp(-x)) * u[i]
	}
	return out
}

// Every float32 gate value (a stride through all bit patterns: both signs,
// subnormals, the ranges where Exp(-x) overflows or underflows, NaNs and
// infinities), times up-projection values of every magnitude, gives the
// scalar loop's bits on each path.
func TestSiluMulAllArguments(t *testing.T) {
	defer func(prev bool) { setExpAsm(prev) }(useExpAsm)
	g := floatStride(0, 1<<32)
	// Dense around -x's subnormal and overflow thresholds and zero.
	for x := float32(-89); x < -88; x += 1.0 / 4096 {
		g = append(g, x)
	}
	for x := float32(85); x < 104.5; x += 1.0 / 1024 {
		g = append(g, x)
	}
	for x := float32(-1); x < 1; x += 1.0 / 8192 {
		g = append(g, x)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	u := make([]float32, len(g))
	for i := range u {
		switch i % 4 {
		case 0:
			u[i] = 1
		case 1:
			u[i] = float32(rng.NormFloat64())
		default:
			u[i] = math.Float32frombits(rng.Uint32())
		}
	}
	want := refSiluMul(g, u)
	for _, asm := range []bool{false, true} {
		if asm && !HasAssembly() {
			continue
		}
		setExpAsm(asm)
		got := append([]float32(nil), g...)
		SiluMul(got, u)
		for i := range got {
			if !sameF32(got[i], want[i]) {
				t.Fatalf("asm=%v: SiluMul(%v, %v) = %v, want %v", asm, g[i], u[i], got[i], want[i])
			}
		}
	}
}

// Lengths around the 8-element block leave tails for the scalar loop; u
// may be longer than g.
func TestSiluMulLengths(t *testing.T) {
	defer func(prev bool) { setExpAsm(prev) }(useExpAsm)
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 344, 1000} {
		g := make([]float32, n)
		u := make([]float32, n+3)
		for i := range g {
			g[i] = float32(rng.NormFloat64() * 4)
		}
		for i := range u {
			u[i] = float32(rng.NormFloat64())
		}
		want := refSiluMul(g, u[:n])
		for _, asm := range []bool{false, true} {
			if asm && !HasAssembly() {
				continue
			}
			setExpAsm(asm)
			t.Run(fmt.Sprintf("n=%d/asm=%v", n, asm), func(t *testing.T) {
				got := append([]float32(nil), g...)
				SiluMul(got, u)
				for i := range got {
					if !sameF32(got[i], want[i]) {
						t.Fatalf("element %d: %v, want %v", i, got[i], want[i])
					}
				}
			})
		}
	}
}
