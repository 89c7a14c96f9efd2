package train

import (
	"math/rand/v2"

	"github.com/crossin-lab/crossin/engine/model"
)

// dropSeed derives the dropout stream of one projection in one micro-batch.
// It is read as rand.Rand.Float64 reads its source (uniform01), but from
// the PCG itself: one call per activation, without the interface call.
func dropSeed(seed uint64, layer int, module model.Proj) *rand.PCG {
	return rand.NewPCG(seed, uint64(layer)<<8|uint64(module)+1)
}

// uniform01 is rand.New(p).Float64(): the next float64 in [0, 1).
func uniform01(p *rand.PCG) float64 { return float64(p.Uint64()<<11>>11) / (1 << 53) }

// linear computes out = x Wᵀ + b + scale·(drop(x) Aᵀ) Bᵀ for projection mi
// of layer l over the packed rows (the bias b only where the model has
// one: Qwen2's q, k, v).
func (n *Net) linear(out, x []float32, l int, mi model.Proj, pk *packed, lt *linTape, train bool) {
	N := pk.n
	in, o := n.Base.Shape(mi.String())
	n.pool.matABt(out, x, n.Base.Layers[l].proj(mi), N, in, o, false)
	if bias := n.Base.Layers[l].Bias[mi]; bias != nil {
		n.pool.parallel(N, 16, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				row := out[i*o : i*o+o]
				for j, bv := range bias {
					row[j] += bv
				}
			}
		})
	}
	p := n.pairs[l][mi]
	if p == nil {
		return
	}
	r := n.Adapter.Config.R
	a := &n.arena
	xd := x
	var noise []float32
	if n.dropout > 0 && train {
		noise = a.get(N * in)
		xd = a.get(N * in)
		n.dropMask(noise, xd, x, in, l, mi, pk)
	}
	z := a.get(N * r)
	n.pool.matABt(z, xd, p.A, N, in, r, false)
	tmp := a.get(N * o)
	n.pool.matABt(tmp, z, p.B, N, r, o, false)
	sc := n.scale
	n.pool.parallel(len(tmp), 4096, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] += tmp[i] * sc
		}
	})
	if lt != nil {
		*lt = linTape{x: x, noise: noise, xd: xd, z: z}
	}
}

// dropMask draws the dropout multipliers of projection mi (torch: noise =
// bernoulli(1-p) / (1-p); out = x * noise) and sets xd = x·noise. The
// stream runs over the padded layout, [B·T, in] in order, as it always
// has: the values of dropped rows are drawn and discarded, so a kept row's
// mask does not depend on the packing.
func (n *Net) dropMask(noise, xd, x []float32, in, l int, mi model.Proj, pk *packed) {
	rng := dropSeed(pk.b.DropSeed, l, mi)
	keep := float32(1) / float32(1-n.dropout)
	p := n.dropout
	next := 0 // padded row the stream is at
	for i, src := range pk.src {
		for ; next < src; next++ {
			for range in {
				rng.Uint64()
			}
		}
		nr, xr, dr := noise[i*in:i*in+in], x[i*in:i*in+in], xd[i*in:i*in+in]
		for j := range nr {
			if uniform01(rng) >= p {
				nr[j] = keep
				dr[j] = xr[j] * keep
			} else {
				nr[j], dr[j] = 0, 0
			}
		}
		next++
	}
}

// linearBack sets (acc: adds to) dx the input gradient dy·W and
// accumulates the LoRA gradients.
func (n *Net) linearBack(dx, dy []float32, l int, mi model.Proj, pk *packed, lt *linTape, acc bool) {
	N := pk.n
	in, o := n.Base.Shape(mi.String())
	if n.wt != nil {
		n.pool.matABt(dx, dy, n.wt[l][mi], N, o, in, acc)
	} else {
		n.pool.matAB(dx, dy, n.Base.Layers[l].proj(mi), N, o, in, acc)
	}
	p := n.pairs[l][mi]
	if p == nil {
		return
	}
	r := n.Adapter.Config.R
	gi := n.gradIdx[p]
	gA, gB := n.Grads[gi], n.Grads[gi+1]
	a := &n.arena
	dys := a.get(len(dy[:N*o]))
	sc := n.scale
	n.pool.parallel(len(dys), 4096, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dys[i] = dy[i] * sc
		}
	})
	n.pool.matAtB(gB, dys, lt.z, N, o, r, true)
	dz := a.get(N * r)
	n.pool.matAB(dz, dys, p.B, N, o, r, false)
	n.pool.matAtB(gA, dz, lt.xd, N, r, in, true)
	dxd := a.get(N * in)
	n.pool.matAB(dxd, dz, p.A, N, r, in, false)
	noise := lt.noise
	n.pool.parallel(len(dxd), 4096, func(lo, hi int) {
		if noise != nil {
			// The product rounds to float32 first (the explicit
			// conversion keeps a compiler from fusing it into the add).
			for i := lo; i < hi; i++ {
				dx[i] += float32(dxd[i] * noise[i])
			}
			return
		}
		for i := lo; i < hi; i++ {
			dx[i] += dxd[i]
		}
	})
}
