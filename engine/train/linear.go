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
// of layer l (the bias b only where the model has one: Qwen2's q, k, v).
func (n *Net) linear(out, x []float32, N, l int, mi model.Proj, b *Batch, lt *linTape, train bool) {
	in, o := n.Base.Shape(mi.String())
	n.pool.matABt(out, x, n.Base.Layers[l].proj(mi), N, in, o, false)
	if bias := n.Base.Layers[l].Bias[mi]; bias != nil {
		for i := 0; i < N; i++ {
			row := out[i*o : i*o+o]
			for j, bv := range bias {
				row[j] += bv
			}
		}
	}
	p := n.pairs[l][mi]
	if p == nil {
		return
	}
	r := n.Adapter.Config.R
	xd := x
	var noise []float32
	if n.dropout > 0 && train {
		// torch: noise = bernoulli(1-p) / (1-p); out = x * noise.
		rng := dropSeed(b.DropSeed, l, mi)
		keep := float32(1) / float32(1-n.dropout)
		noise = make([]float32, len(x))
		xd = make([]float32, len(x))
		for i := range x {
			if uniform01(rng) >= n.dropout {
				noise[i] = keep
				xd[i] = x[i] * keep
			}
		}
	}
	z := make([]float32, N*r)
	n.pool.matABt(z, xd, p.A, N, in, r, false)
	tmp := make([]float32, N*o)
	n.pool.matABt(tmp, z, p.B, N, r, o, false)
	for i, v := range tmp {
		out[i] += v * n.scale
	}
	if lt != nil {
		*lt = linTape{x: x, noise: noise, xd: xd, z: z}
	}
}

// linearBack adds dy·W to dx and accumulates the LoRA gradients.
func (n *Net) linearBack(dx, dy []float32, N, l int, mi model.Proj, lt *linTape) {
	in, o := n.Base.Shape(mi.String())
	if n.wt != nil {
		n.pool.matABt(dx, dy, n.wt[l][mi], N, o, in, true)
	} else {
		n.pool.matAB(dx, dy, n.Base.Layers[l].proj(mi), N, o, in, true)
	}
	p := n.pairs[l][mi]
	if p == nil {
		return
	}
	r := n.Adapter.Config.R
	gi := n.gradIdx[p]
	gA, gB := n.Grads[gi], n.Grads[gi+1]
	dys := make([]float32, len(dy))
	for i, v := range dy {
		dys[i] = v * n.scale
	}
	n.pool.matAtB(gB, dys, lt.z, N, o, r, true)
	dz := make([]float32, N*r)
	n.pool.matAB(dz, dys, p.B, N, o, r, false)
	n.pool.matAtB(gA, dz, lt.xd, N, r, in, true)
	dxd := make([]float32, N*in)
	n.pool.matAB(dxd, dz, p.A, N, r, in, false)
	if lt.noise != nil {
		// One pass: the product rounds to float32 first (the explicit
		// conversion keeps a compiler from fusing it into the add).
		for i, v := range dxd {
			dx[i] += float32(v * lt.noise[i])
		}
		return
	}
	for i, v := range dxd {
		dx[i] += v
	}
}
