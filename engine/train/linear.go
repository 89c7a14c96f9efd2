package train

import (
	"github.com/crossin-lab/crossin/engine/model"
	"github.com/crossin-lab/crossin/engine/tensor"
)

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
	n.scr[0] = tensor.Grow(n.scr[0], N*o)
	tmp := n.scr[0]
	n.pool.matABt(tmp, z, p.B, N, r, o, false)
	n.pool.parallel(len(tmp), 4096, func(lo, hi int) {
		tensor.AddScaled(out[lo:hi], tmp[lo:hi], n.scale)
	})
	if lt != nil {
		*lt = linTape{x: x, noise: noise, xd: xd, z: z}
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
	n.scr[0], n.scr[1], n.scr[2] = tensor.Grow(n.scr[0], N*o), tensor.Grow(n.scr[1], N*r), tensor.Grow(n.scr[2], N*in)
	dys, dz, dxd := n.scr[0], n.scr[1], n.scr[2]
	sc := n.scale
	n.pool.parallel(len(dys), 4096, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dys[i] = dy[i] * sc
		}
	})
	n.pool.matAtB(gB, dys, lt.z, N, o, r, true)
	n.pool.matAB(dz, dys, p.B, N, o, r, false)
	n.pool.matAtB(gA, dz, lt.xd, N, r, in, true)
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
