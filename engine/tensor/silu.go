package tensor

// SiluMul sets g[i] = g[i] / (1 + Exp(-g[i])) · u[i] for every i: the
// SiLU-gated product of a SwiGLU MLP (model.Silu times the up projection),
// in float32 with Exp, bit for bit the scalar loop
//
//	for i, x := range g { g[i] = x / (1 + Exp(-x)) * u[i] }
//
// On amd64 with AVX2 eight elements run at a time (siluMulAVX2 in
// expsum_amd64.s, whose Exp lanes it shares with ExpSum; the same
// unfused operations in the same order as the Go code, off where the Go
// compiler fuses multiply-adds, as for ExpSum). u must be at least as long
// as g.
func SiluMul(g, u []float32) {
	u = u[:len(g)]
	i := 0
	if n := len(g) &^ 7; useExpAsm && n > 0 {
		siluMulAsm(g[:n], u[:n])
		i = n
	}
	for ; i < len(g); i++ {
		x := g[i]
		g[i] = x / (1 + Exp(-x)) * u[i]
	}
}
