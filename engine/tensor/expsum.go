package tensor

import (
	"math"
	"math/bits"
)

// MaxRow and ExpNegSum are the two passes of a log-sum-exp over a
// vocabulary-sized row, the inner loop of the training loss and of option
// scoring: a row of 32k logits per scored token. They compute exactly what
// the scalar loops
//
//	m := row[0]; for _, v := range row[1:] { m = max(m, v) }
//	for i, v := range src { e := ExpNeg(v - m); dst[i] = e; s += float64(e) }
//
// compute, bit for bit, but on amd64 with AVX2 the exponentials run eight
// at a time, sixteen in ExpNegSum's out-of-order pass with AVX-512
// (expnegsum_amd64.s for ExpNegSum and MaxRow, expsum_amd64.s for the
// softmax's ExpSum; the same unfused float32 operations in the same order),
// and the float64 sum is the in-order sum: a chain of scalar adds, or, for
// ExpNegSum's blocks where no add can round (exactThreshold), vector adds,
// which then give the same bits. So the bytes of a loss or a score do not
// depend on which path ran, and nothing enters ArithmeticPath. (Where the
// Go compiler fuses multiply-adds, GOAMD64=v3, the vector path is off: it
// would not match the fused Go code.)

// exactThreshold is the smallest value that the vector pass of ExpNegSum
// sums with vector adds, out of order, over n values (n > 0): if every
// value is at least t = 2^(K-30), where 2^K ≥ 2n, then no add of any order
// rounds, so every order gives the in-order sum's bits. Each value v ≥ t is
// a float32 with exponent E ≥ K-30 and 24 significant bits, so a multiple
// of 2^(E-23), hence of 2^(K-53); the pass also checks each is at most 2
// (ExpNeg of x ≤ 0 is at most 1), so every partial sum of them is a
// multiple of 2^(K-53) no larger than 2n ≤ 2^K = 2^53·2^(K-53): a float64
// holds it exactly. The values of a row of logits within about 9.7 of its
// maximum (n = 32000) qualify, as for a model not yet peaked; a block with
// a smaller value is summed one add at a time, so any row keeps the
// in-order bits.
func exactThreshold(n int) float32 {
	k := bits.Len(uint(2*n - 1)) // 2^k ≥ 2n
	return math.Float32frombits(uint32(k-30+127) << 23)
}

// MaxRow returns the largest element of row (-Inf for an empty row, NaN
// if any element is NaN, as Go's max). The sign of a zero maximum is not
// specified; no caller can tell, since ExpNeg(±0) = 1.
func MaxRow(row []float32) float32 {
	m := float32(math.Inf(-1))
	i := 0
	if n := len(row) &^ 31; useExpAsm && n > 0 {
		vm, nan := maxAsm(row[:n])
		if nan {
			return float32(math.NaN())
		}
		m, i = vm, n
	}
	for _, v := range row[i:] {
		m = max(m, v)
	}
	return m
}

// ExpNegSum sets dst[i] = ExpNeg(src[i] - m) for every i (dst may be nil,
// or src itself) and returns the sum of those values added in index order
// in float64. m is the row's maximum, so every argument is ≤ 0.
func ExpNegSum(dst, src []float32, m float32) float64 { return ExpNegSumNext(dst, src, m, nil) }

// ExpNegSumNext is ExpNegSum that meanwhile brings next, the row the
// caller reads after src, toward the core, where the vector pass can: a
// loop over the rows of a logits matrix far larger than L2 then finds each
// row in L2 for its MaxRow instead of in memory. The result is
// ExpNegSum's; next is only read (by prefetches, which cannot fault).
func ExpNegSumNext(dst, src []float32, m float32, next []float32) float64 {
	if dst != nil {
		dst = dst[:len(src)]
	}
	var s float64
	i := 0
	if n := len(src) &^ 7; useExpAsm && n > 0 && !math.IsInf(float64(m), 0) && m == m {
		s, i = expNegSumAsm(dst, src[:n], m, next), n
	}
	return expNegSumGo(dst, src, m, i, s)
}

// expNegSumGo is the scalar loop from index i on, continuing the sum s.
func expNegSumGo(dst, src []float32, m float32, i int, s float64) float64 {
	if dst == nil {
		for _, v := range src[i:] {
			s += float64(ExpNeg(v - m))
		}
		return s
	}
	for ; i < len(src); i++ {
		e := ExpNeg(src[i] - m)
		dst[i] = e
		s += float64(e)
	}
	return s
}

// ExpSum sets dst[i] = Exp(src[i] - m) for every i (dst may be src) and
// returns their sum added in index order in float64: the softmax's pass,
// bit for bit the scalar loop, vectorised like ExpNegSum.
func ExpSum(dst, src []float32, m float32) float64 {
	dst = dst[:len(src)]
	var s float64
	i := 0
	if n := len(src) &^ 7; useExpAsm && n > 0 && !math.IsInf(float64(m), 0) && m == m {
		s, i = expSumAsm(dst, src[:n], m), n
	}
	for ; i < len(src); i++ {
		e := Exp(src[i] - m)
		dst[i] = e
		s += float64(e)
	}
	return s
}
