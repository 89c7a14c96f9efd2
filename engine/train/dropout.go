package train

import (
	"math"
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

// advance moves the stream n values ahead in O(log n) steps (pcgJump).
func (p *pcg) advance(n uint64) { p.jump(newPCGJump(n)) }

// pcgJump is the LCG's n-fold composition x ↦ A·x + C: applying it moves a
// stream n values ahead.
type pcgJump struct{ mulHi, mulLo, addHi, addLo uint64 }

// jump applies j to the stream's state.
func (p *pcg) jump(j pcgJump) {
	h, l := mul128(j.mulHi, j.mulLo, p.hi, p.lo)
	p.hi, p.lo = add128(h, l, j.addHi, j.addLo)
}

// newPCGJump builds the composition for n values by squaring, in O(log n)
// steps (Brown, "Random number generation with arbitrary strides", 1994).
func newPCGJump(n uint64) pcgJump {
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
	return pcgJump{accMulHi, accMulLo, accAddHi, accAddLo}
}

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
//
// A draw's state update is a chain of 128-bit multiplies, so one stream's
// latency bounds the drawing; four rows are drawn side by side, each from
// its own copy of the stream (a row's start is the previous row's moved
// in values ahead, one jump), so that their chains overlap.
func (n *Net) dropMask(noise, xd, x []float32, in, l int, mi model.Proj, pk *packed) {
	start := dropSeed(pk.b.DropSeed, l, mi)
	keep := float32(1) / float32(1-n.dropout)
	thresh := dropThreshold(n.dropout)
	row := newPCGJump(uint64(in))
	n.pool.parallel(pk.n, 32, func(lo, hi int) {
		cur := start
		at := 0 // padded row cur is at
		// seek returns the stream at padded row src.
		seek := func(src int) pcg {
			switch {
			case src == at+1:
				cur.jump(row)
			case src != at:
				cur.advance(uint64(src-at) * uint64(in))
			}
			at = src
			return cur
		}
		// draw fills row i's mask from stream r at its row's start.
		draw := func(i int, r *pcg) {
			nr, xr, dr := noise[i*in:i*in+in], x[i*in:i*in+in], xd[i*in:i*in+in]
			for j := range nr {
				m := dropKeep(r.uint64(), thresh)
				nr[j], dr[j] = masked(keep, m), masked(xr[j]*keep, m)
			}
		}
		i := lo
		for ; i+4 <= hi; i += 4 {
			r0, r1, r2, r3 := seek(pk.src[i]), seek(pk.src[i+1]), seek(pk.src[i+2]), seek(pk.src[i+3])
			n0, x0, d0 := noise[i*in:i*in+in], x[i*in:i*in+in], xd[i*in:i*in+in]
			n1, x1, d1 := noise[(i+1)*in:(i+1)*in+in], x[(i+1)*in:(i+1)*in+in], xd[(i+1)*in:(i+1)*in+in]
			n2, x2, d2 := noise[(i+2)*in:(i+2)*in+in], x[(i+2)*in:(i+2)*in+in], xd[(i+2)*in:(i+2)*in+in]
			n3, x3, d3 := noise[(i+3)*in:(i+3)*in+in], x[(i+3)*in:(i+3)*in+in], xd[(i+3)*in:(i+3)*in+in]
			for j := range in {
				m0 := dropKeep(r0.uint64(), thresh)
				m1 := dropKeep(r1.uint64(), thresh)
				m2 := dropKeep(r2.uint64(), thresh)
				m3 := dropKeep(r3.uint64(), thresh)
				n0[j], d0[j] = masked(keep, m0), masked(x0[j]*keep, m0)
				n1[j], d1[j] = masked(keep, m1), masked(x1[j]*keep, m1)
				n2[j], d2[j] = masked(keep, m2), masked(x2[j]*keep, m2)
				n3[j], d3[j] = masked(keep, m3), masked(x3[j]*keep, m3)
			}
			// The stream after the group: row i+3's end.
			cur, at = r3, pk.src[i+3]+1
		}
		for ; i < hi; i++ {
			r := seek(pk.src[i])
			draw(i, &r)
			cur, at = r, pk.src[i]+1
		}
	})
}

// dropThreshold returns the 53-bit draws that keep their value:
// rand.Float64 is d/2⁵³ for the draw's low 53 bits d
// (TestPCGMatchesMathRand), and d/2⁵³ ≥ p exactly when d ≥ ⌈p·2⁵³⌉
// (p·2⁵³ is exact in float64, and d < 2⁵³ converts exactly), so comparing
// integers keeps torch's and the float comparison's decisions.
func dropThreshold(p float64) uint64 { return uint64(math.Ceil(p * (1 << 53))) }

// dropKeep returns all ones for a draw that keeps its value (rand.Float64()
// ≥ p, as dropThreshold), zero for one dropped: a mask rather than a branch
// (one draw in twenty is dropped, too often to predict).
func dropKeep(u, thresh uint64) uint32 {
	var m uint32
	if u<<11>>11 >= thresh {
		m = ^uint32(0)
	}
	return m
}

// masked is v where m is all ones (a kept value) and +0 where m is zero.
func masked(v float32, m uint32) float32 { return math.Float32frombits(math.Float32bits(v) & m) }
