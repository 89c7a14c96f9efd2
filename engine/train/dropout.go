package train

import (
	"math/bits"

	"github.com/crossin-lab/crossin/engine/model"
)

// pcg is math/rand/v2's PCG (a 128-bit LCG with the DXSM output), written
// out so that a stream can jump ahead: the dropout masks of a projection
// are one stream over the padded layout, and jumping lets the rows of the
// packed layout be drawn in parallel, each from its own offset, with the
// values a single sequential pass gives. TestPCGMatchesMathRand holds it to
// the library's sequence.
type pcg struct{ hi, lo uint64 }

// The LCG's multiplier and increment (math/rand/v2).
const (
	pcgMulHi = 2549297995355413924
	pcgMulLo = 4865540595714422341
	pcgIncHi = 6364136223846793005
	pcgIncLo = 1442695040888963407
)

// mul128 returns the low 128 bits of (ahi:alo)·(bhi:blo).
func mul128(ahi, alo, bhi, blo uint64) (hi, lo uint64) {
	hi, lo = bits.Mul64(alo, blo)
	hi += ahi*blo + alo*bhi
	return hi, lo
}

// add128 returns (ahi:alo)+(bhi:blo) mod 2¹²⁸.
func add128(ahi, alo, bhi, blo uint64) (hi, lo uint64) {
	lo, c := bits.Add64(alo, blo, 0)
	hi, _ = bits.Add64(ahi, bhi, c)
	return hi, lo
}

// uint64 is rand.PCG.Uint64.
func (p *pcg) uint64() uint64 {
	p.hi, p.lo = mul128(p.hi, p.lo, pcgMulHi, pcgMulLo)
	p.hi, p.lo = add128(p.hi, p.lo, pcgIncHi, pcgIncLo)
	hi := p.hi
	hi ^= hi >> 32
	hi *= 0xda942042e4dd58b5
	hi ^= hi >> 48
	hi *= p.lo | 1
	return hi
}

// advance moves the stream n values ahead in O(log n) steps: the LCG's
// n-fold composition x ↦ A·x + C, built by squaring (Brown, "Random
// number generation with arbitrary strides", 1994).
func (p *pcg) advance(n uint64) {
	accMulHi, accMulLo := uint64(0), uint64(1)
	accAddHi, accAddLo := uint64(0), uint64(0)
	curMulHi, curMulLo := uint64(pcgMulHi), uint64(pcgMulLo)
	curAddHi, curAddLo := uint64(pcgIncHi), uint64(pcgIncLo)
	for ; n > 0; n >>= 1 {
		if n&1 != 0 {
			accMulHi, accMulLo = mul128(accMulHi, accMulLo, curMulHi, curMulLo)
			h, l := mul128(accAddHi, accAddLo, curMulHi, curMulLo)
			accAddHi, accAddLo = add128(h, l, curAddHi, curAddLo)
		}
		h, l := add128(curMulHi, curMulLo, 0, 1)
		curAddHi, curAddLo = mul128(h, l, curAddHi, curAddLo)
		curMulHi, curMulLo = mul128(curMulHi, curMulLo, curMulHi, curMulLo)
	}
	h, l := mul128(accMulHi, accMulLo, p.hi, p.lo)
	p.hi, p.lo = add128(h, l, accAddHi, accAddLo)
}

// uniform01 is rand.New(p).Float64(): the next float64 in [0, 1).
func (p *pcg) uniform01() float64 { return float64(p.uint64()<<11>>11) / (1 << 53) }

// dropSeed starts the dropout stream of one projection in one micro-batch
// (rand.NewPCG(seed, layer<<8|module+1)).
func dropSeed(seed uint64, layer int, module model.Proj) pcg {
	return pcg{hi: seed, lo: uint64(layer)<<8 | uint64(module) + 1}
}

// dropMask draws the dropout multipliers of projection mi (torch: noise =
// bernoulli(1-p) / (1-p); out = x * noise) and sets xd = x·noise. The
// stream runs over the padded layout, [B·T, in] in order, as it always
// has: each packed row draws from its padded row's offset, so a row's mask
// does not depend on the packing or on which goroutine draws it.
func (n *Net) dropMask(noise, xd, x []float32, in, l int, mi model.Proj, pk *packed) {
	start := dropSeed(pk.b.DropSeed, l, mi)
	keep := float32(1) / float32(1-n.dropout)
	p := n.dropout
	n.pool.parallel(pk.n, 32, func(lo, hi int) {
		rng := start
		at := 0 // padded row the stream is at
		for i := lo; i < hi; i++ {
			if src := pk.src[i]; src != at {
				rng.advance(uint64(src-at) * uint64(in))
				at = src
			}
			nr, xr, dr := noise[i*in:i*in+in], x[i*in:i*in+in], xd[i*in:i*in+in]
			for j := range nr {
				if rng.uniform01() >= p {
					nr[j] = keep
					dr[j] = xr[j] * keep
				} else {
					nr[j], dr[j] = 0, 0
				}
			}
			at++
		}
	})
}
