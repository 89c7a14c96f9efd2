package train

import (
	"math"
)

func (n *Net) ropeTables(T int) {
	half := n.Base.HeadDim / 2
	for t := len(n.cos); t < T; t++ {
		c := make([]float32, half)
		s := make([]float32, half)
		for i, f := range n.Base.InvFreq {
			a := float32(t) * f
			c[i] = float32(math.Cos(float64(a)))
			s[i] = float32(math.Sin(float64(a)))
		}
		n.cos = append(n.cos, c)
		n.sin = append(n.sin, s)
	}
}

// rope rotates the heads of x ([rows, heads*D]) in place, each packed row
// at its position in its sequence.
func (n *Net) rope(x []float32, pk *packed, heads int, inverse bool) {
	N := pk.n
	if r := n.Base.Rope; r != nil {
		if inverse {
			r.ApplyInverse(x, N, heads, pk.pos)
		} else {
			r.Apply(x, N, heads, pk.pos)
		}
		return
	}
	D := n.Base.HeadDim
	half := D / 2
	n.pool.parallel(N, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			c, s := n.cos[pk.pos[i]], n.sin[pk.pos[i]]
			for h := 0; h < heads; h++ {
				v := x[i*heads*D+h*D : i*heads*D+h*D+D]
				for j := 0; j < half; j++ {
					x1, x2 := v[j], v[j+half]
					if inverse {
						v[j] = x1*c[j] + x2*s[j]
						v[j+half] = x2*c[j] - x1*s[j]
					} else {
						v[j] = x1*c[j] - x2*s[j]
						v[j+half] = x2*c[j] + x1*s[j]
					}
				}
			}
		}
	})
}
