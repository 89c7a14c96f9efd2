package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// The scalar loops ExpNegSum and MaxRow must reproduce bit for bit.
func refMax(row []float32) float32 {
	m := float32(math.Inf(-1))
	for _, v := range row {
		m = max(m, v)
	}
	return m
}

func refExpNegSum(dst, src []float32, m float32) float64 {
	var s float64
	for i, v := range src {
		e := ExpNeg(v - m)
		if dst != nil {
			dst[i] = e
		}
		s += float64(e)
	}
	return s
}

// floatStride returns the float32 values whose bit patterns run from lo
// (included) to hi (excluded) in steps of 1021, a prime: about four
// million values through every exponent, both signs, subnormals,
// infinities and NaNs, for the tests that hold a vector pass to the
// scalar code's bits on every argument.
func floatStride(lo, hi uint64) []float32 {
	var out []float32
	for b := lo; b < hi; b += 1021 {
		out = append(out, math.Float32frombits(uint32(b)))
	}
	return out
}

// expRows are rows that exercise the vector passes and their tails:
// lengths around the 8- and 32-element blocks, a vocabulary-sized row,
// arguments below ExpNeg's underflow bound, -Inf, signed zeros, ties,
// subnormal inputs, NaN and +Inf.
func expRows() map[string][]float32 {
	rng := rand.New(rand.NewPCG(1, 2))
	normal := func(n int, sd float64) []float32 {
		r := make([]float32, n)
		for i := range r {
			r[i] = float32(rng.NormFloat64() * sd)
		}
		return r
	}
	rows := map[string][]float32{}
	for _, n := range []int{0, 1, 7, 8, 9, 31, 32, 33, 63, 64, 65, 100, 257, 32000} {
		rows[fmt.Sprintf("normal%d", n)] = normal(n, 3)
	}
	wide := normal(1000, 40) // many arguments below -87
	wide[3], wide[500] = float32(math.Inf(-1)), float32(math.Inf(-1))
	rows["wide"] = wide
	rows["zeros"] = []float32{0, float32(math.Copysign(0, -1)), 0, 0, 0, 0, 0, 0, float32(math.Copysign(0, -1)), 0, 0}
	ties := make([]float32, 96)
	for i := range ties {
		ties[i] = 2.5
	}
	rows["ties"] = ties
	sub := normal(40, 1)
	sub[5], sub[17] = math.Float32frombits(1), -math.Float32frombits(0x7fffff)
	rows["subnormal"] = sub
	rows["tinyrange"] = normal(48, 1e-30)
	// Rows within a few units of their maximum, a fresh model's logits:
	// ExpNegSum's vector pass sums their blocks out of order (exact, see
	// exactThreshold), and one value far below the rest, or above the
	// shift, sends its block and the rest of the row back to the in-order
	// adds, at the first block, mid-row or in the last.
	rows["flat32000"] = normal(32000, 0.3)
	for _, at := range []int{3, 64, 130, 31990} {
		r := normal(32000, 0.3)
		r[at] = -30
		rows[fmt.Sprintf("flat-low@%d", at)] = r
	}
	high := normal(500, 0.3)
	high[200] = 3 // ExpNeg(3 - 1.5) > 2
	rows["flat-high"] = high
	allNegInf := make([]float32, 40)
	for i := range allNegInf {
		allNegInf[i] = float32(math.Inf(-1))
	}
	rows["all-inf"] = allNegInf
	for _, at := range []int{0, 9, 40, 77} {
		r := normal(80, 3)
		r[at] = float32(math.NaN())
		rows[fmt.Sprintf("nan@%d", at)] = r
		r = normal(80, 3)
		r[at] = float32(math.Inf(1))
		rows[fmt.Sprintf("inf@%d", at)] = r
	}
	return rows
}

func sameF32(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
}

func sameF64(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || (a != a && b != b)
}

func TestExpNegSumMatchesScalar(t *testing.T) {
	defer func(prev bool) { setExpAsm(prev) }(useExpAsm)
	for _, asm := range []bool{false, true} {
		if asm && !HasAssembly() {
			continue
		}
		setExpAsm(asm)
		for name, row := range expRows() {
			t.Run(fmt.Sprintf("%s/asm=%v", name, asm), func(t *testing.T) {
				m, want := MaxRow(row), refMax(row)
				// The sign of a zero maximum is unspecified.
				if !sameF32(m, want) && !(m == 0 && want == 0) {
					t.Fatalf("MaxRow = %v, want %v", m, want)
				}
				for _, shift := range []float32{want, 1.5} {
					dst, ref := make([]float32, len(row)), make([]float32, len(row))
					s, rs := ExpNegSum(dst, row, shift), refExpNegSum(ref, row, shift)
					if !sameF64(s, rs) {
						t.Fatalf("m=%v: sum %v (%#x), want %v (%#x)", shift, s, math.Float64bits(s), rs, math.Float64bits(rs))
					}
					for i := range dst {
						if !sameF32(dst[i], ref[i]) {
							t.Fatalf("m=%v: e[%d] = %v, want %v (x = %v)", shift, i, dst[i], ref[i], row[i]-shift)
						}
					}
					if s2 := ExpNegSum(nil, row, shift); !sameF64(s2, rs) {
						t.Fatalf("m=%v: sum without dst %v, want %v", shift, s2, rs)
					}
					// Prefetching another row changes nothing.
					next := make([]float32, len(row)+64)
					if s2 := ExpNegSumNext(nil, row, shift, next); !sameF64(s2, rs) {
						t.Fatalf("m=%v: sum with a row prefetched %v, want %v", shift, s2, rs)
					}
					// In place, as the training loss uses it.
					in := append([]float32(nil), row...)
					if s3 := ExpNegSum(in, in, shift); !sameF64(s3, rs) {
						t.Fatalf("m=%v: in-place sum %v, want %v", shift, s3, rs)
					}
					for i := range in {
						if !sameF32(in[i], ref[i]) {
							t.Fatalf("m=%v: in-place e[%d] = %v, want %v", shift, i, in[i], ref[i])
						}
					}
				}
			})
		}
	}
}

// Every float32 argument in ExpNeg's domain (a stride through all of
// them) gives the scalar bits on the vector path.
func TestExpNegVectorAllArguments(t *testing.T) {
	if !HasAssembly() || goLevel != "" {
		t.Skip("no vector path in this build")
	}
	defer func(prev bool) { setExpAsm(prev) }(useExpAsm)
	setExpAsm(true)
	src := floatStride(0x80000000, 0xff800001) // -0 down to -Inf
	src = src[:len(src)&^7]
	dst := make([]float32, len(src))
	ExpNegSum(dst, src, 0)
	for i, x := range src {
		if want := ExpNeg(x); !sameF32(dst[i], want) {
			t.Fatalf("ExpNeg(%v) = %v on the vector path, want %v", x, dst[i], want)
		}
	}
}

func TestExpSumMatchesScalar(t *testing.T) {
	defer func(prev bool) { setExpAsm(prev) }(useExpAsm)
	for _, asm := range []bool{false, true} {
		if asm && !HasAssembly() {
			continue
		}
		setExpAsm(asm)
		for name, row := range expRows() {
			t.Run(fmt.Sprintf("%s/asm=%v", name, asm), func(t *testing.T) {
				// The row's max (softmax), and shifts that put arguments
				// above Exp's overflow bound and into its subnormal range.
				for _, m := range []float32{refMax(row), 0, -95, 95} {
					dst, ref := make([]float32, len(row)), make([]float32, len(row))
					var rs float64
					for i, v := range row {
						ref[i] = Exp(v - m)
						rs += float64(ref[i])
					}
					if s := ExpSum(dst, row, m); !sameF64(s, rs) {
						t.Fatalf("m=%v: sum %v (%#x), want %v (%#x)", m, s, math.Float64bits(s), rs, math.Float64bits(rs))
					}
					for i := range dst {
						if !sameF32(dst[i], ref[i]) {
							t.Fatalf("m=%v: e[%d] = %v, want %v (x = %v)", m, i, dst[i], ref[i], row[i]-m)
						}
					}
				}
			})
		}
	}
}

// Every float32 (a stride through all bit patterns: both signs, the
// subnormal-result range, overflow, NaNs) gives Exp's bits on the vector
// path.
func TestExpVectorAllArguments(t *testing.T) {
	if !HasAssembly() || goLevel != "" {
		t.Skip("no vector path in this build")
	}
	defer func(prev bool) { setExpAsm(prev) }(useExpAsm)
	setExpAsm(true)
	src := floatStride(0, 1<<32)
	// Dense around the subnormal and overflow thresholds.
	for x := float32(-104.5); x < -85; x += 1.0 / 1024 {
		src = append(src, x)
	}
	for x := float32(88); x < 89; x += 1.0 / 4096 {
		src = append(src, x)
	}
	src = src[:len(src)&^7]
	dst := make([]float32, len(src))
	ExpSum(dst, src, 0)
	for i, x := range src {
		if want := Exp(x); !sameF32(dst[i], want) {
			t.Fatalf("Exp(%v) = %v on the vector path, want %v", x, dst[i], want)
		}
	}
}

// The vector Exp finds n = floor(t+0.5), t = x*log2e, in float32
// (expsum_amd64.s): every x whose t lies within a few ulps of a
// half-integer, over Exp's whole range, and every x with t in (-1, 0.5]
// at a fine stride (where t - floor(t) can round), must give Exp's bits
// on the vector paths (ExpSum and SiluMul).
func TestExpHalfIntegers(t *testing.T) {
	if !HasAssembly() || goLevel != "" {
		t.Skip("no vector path in this build")
	}
	defer func(prev bool) { setExpAsm(prev) }(useExpAsm)
	setExpAsm(true)
	var src []float32
	for k := -152; k <= 129; k++ {
		x := float32((float64(k) + 0.5) / math.Log2E)
		lo, hi := x, x
		for i := 0; i < 48; i++ {
			lo = math.Nextafter32(lo, float32(math.Inf(-1)))
			hi = math.Nextafter32(hi, float32(math.Inf(1)))
		}
		for v := lo; v <= hi; v = math.Nextafter32(v, float32(math.Inf(1))) {
			src = append(src, v)
		}
	}
	for b := math.Float32bits(-0.7); b > 0x80000000; b -= 389 { // x in (-0.7, 0)
		src = append(src, math.Float32frombits(b))
	}
	for b := uint32(0); b < math.Float32bits(0.35); b += 389 {
		src = append(src, math.Float32frombits(b))
	}
	src = src[:len(src)&^7]
	dst := make([]float32, len(src))
	ExpSum(dst, src, 0)
	for i, x := range src {
		if want := Exp(x); !sameF32(dst[i], want) {
			t.Fatalf("Exp(%v) = %v on the vector path, want %v", x, dst[i], want)
		}
	}
	// SiluMul(g, 1) is g/(1+Exp(-g)): its lanes' Exp sees -src.
	g := append([]float32(nil), src...)
	one := make([]float32, len(g))
	for i := range g {
		g[i] = -g[i]
		one[i] = 1
	}
	want := refSiluMul(g, one)
	SiluMul(g, one)
	for i := range g {
		if !sameF32(g[i], want[i]) {
			t.Fatalf("SiluMul(%v) = %v on the vector path, want %v", -src[i], g[i], want[i])
		}
	}
}
