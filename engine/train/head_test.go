package train

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/crossin-lab/crossin/engine/lora"
	"github.com/crossin-lab/crossin/engine/tensor"
)

// fullHead is the LM head computed the plain way, as a reference for head:
// logits for every position in one product, the log-softmax at labelled
// positions with the same scalar arithmetic (max, ExpNeg, float64 sum in
// index order), dlogits zero at unlabelled positions, and the input (and,
// for a trained head, weight) gradients as products over all positions.
func fullHead(n *Net, hN []float32, b *Batch, rowScale []float32) (loss []float64, dh, dW []float32) {
	d := n.Base.Dims
	Hd, V, N := d.Hidden, d.Vocab, b.B*b.T
	W := n.headW()
	logits := make([]float32, N*V)
	n.pool.matABt(logits, hN, W, N, Hd, V, false)
	dl := make([]float32, N*V)
	loss = make([]float64, N)
	for p := 0; p < N; p++ {
		if p%b.T == b.T-1 || b.Labels[p+1] == IgnoreIndex {
			continue
		}
		lg, label := logits[p*V:p*V+V], int(b.Labels[p+1])
		m := float32(math.Inf(-1))
		for _, v := range lg {
			m = max(m, v)
		}
		var s float64
		e := dl[p*V : p*V+V]
		for j, v := range lg {
			e[j] = tensor.ExpNeg(v - m)
			s += float64(e[j])
		}
		loss[p] = float64(m) + math.Log(s) - float64(lg[label])
		g := rowScale[p/b.T]
		f := g / float32(s)
		for j := range e {
			e[j] *= f
		}
		e[label] -= g
	}
	dh = make([]float32, N*Hd)
	switch {
	case n.headMod != nil:
		dW = make([]float32, V*Hd)
		n.pool.matAtB(dW, dl, hN, N, V, Hd, false)
		n.pool.matAB(dh, dl, W, N, V, Hd, false)
	case n.headT != nil: // kernels that need the transposed copy
		n.pool.matABt(dh, dl, n.headT, N, V, Hd, false)
	default:
		n.pool.matAB(dh, dl, W, N, V, Hd, false)
	}
	return loss, dh, dW
}

// TestHeadLabelledRowsOnly checks that the fused, chunked LM head, which
// computes logits only where a label follows, gives the losses and input
// gradients of the full head bit for bit (a product's row does not depend
// on the other rows, see engine/tensor), with rows without labels, fully
// labelled rows, and label counts around the chunk size; and the trained
// head's weight gradient (summed over chunks in another grouping) to
// rounding. Tied embeddings share one tensor for the frozen head.
func TestHeadLabelledRowsOnly(t *testing.T) {
	d := Dims{Vocab: 300, Hidden: 16, Inter: 24, Layers: 1, Heads: 2, KVHeads: 1, HeadDim: 8, NormEps: 1e-5}
	d.InvFreq = DefaultInvFreq(10000, d.HeadDim)
	// label reports whether position t of row r has a label.
	type labeller func(r, t int) bool
	every := func(r, t int) bool { return true }
	firstN := func(k, T int) labeller { // the first k labels in row-major order after position 0
		return func(r, t int) bool { return t > 0 && r*(T-1)+t-1 < k }
	}
	cases := []struct {
		name  string
		B, T  int
		label labeller
		items int // labelled positions after the shift
	}{
		{"none", 2, 9, func(r, t int) bool { return false }, 0},
		{"one", 2, 9, func(r, t int) bool { return r == 1 && t == 4 }, 1},
		{"row-without-labels", 3, 20, func(r, t int) bool { return r != 1 && t >= 5 }, 30},
		{"only-first-position", 2, 6, func(r, t int) bool { return t == 0 }, 0},
		{"all", 4, 30, every, 4 * 29},
		{"chunk-1", 2, 97, firstN(headRows-1, 97), headRows - 1},
		{"chunk", 2, 97, firstN(headRows, 97), headRows},
		{"chunk+1", 3, 97, firstN(headRows+1, 97), headRows + 1},
		{"two-chunks+5", 5, 81, firstN(2*headRows+5, 81), 2*headRows + 5},
	}
	defer tensor.UseKernels(tensor.UseKernels(tensor.Kernels()[0]))
	for _, kp := range tensor.Kernels() {
		tensor.UseKernels(kp)
		for _, head := range []string{"frozen", "trained", "tied"} {
			for ci, c := range cases {
				t.Run(kp+"/"+head+"/"+c.name, func(t *testing.T) {
					base := RandomBase(d, 7)
					if head == "tied" {
						base.LMHead = base.Embed
					}
					ad := randomAdapter(t, d, 2, 4, 0, []string{"q_proj"}, 3)
					if head == "trained" {
						ad.Config.ModulesToSave = []string{"lm_head"}
						w := slices.Clone(base.LMHead)
						for i := range w {
							w[i] += 0.01 * float32(i%7-3)
						}
						ad.Saved = []*lora.Full{{Module: "lm_head", Rows: d.Vocab, Cols: d.Hidden, W: w}}
					}
					n, err := NewNet(base, ad, 2)
					if err != nil {
						t.Fatal(err)
					}
					n.transposes()
					rng := rand.New(rand.NewPCG(uint64(ci), 5))
					N := c.B * c.T
					b := &Batch{B: c.B, T: c.T, IDs: make([]int32, N), Labels: make([]int32, N), Mask: make([]uint8, N)}
					for p := range N {
						b.IDs[p], b.Mask[p], b.Labels[p] = int32(rng.IntN(d.Vocab)), 1, IgnoreIndex
						if c.label(p/c.T, p%c.T) {
							b.Labels[p] = int32(rng.IntN(d.Vocab))
						}
					}
					if got := b.Items(); got != c.items {
						t.Fatalf("the case has %d labelled positions, want %d", got, c.items)
					}
					hN := make([]float32, N*d.Hidden)
					for i := range hN {
						hN[i] = float32(rng.NormFloat64())
					}
					scale := make([]float32, c.B)
					for r := range scale {
						scale[r] = float32(0.5 + rng.Float64())
					}
					dh := make([]float32, N*d.Hidden)
					loss := n.head(hN, packAll(b), dh, scale)
					wantLoss, wantDh, wantDW := fullHead(n, hN, b, scale)
					for p := range loss {
						if math.Float64bits(loss[p]) != math.Float64bits(wantLoss[p]) {
							t.Fatalf("position %d: loss %v, full head %v", p, loss[p], wantLoss[p])
						}
					}
					for i := range dh {
						if math.Float32bits(dh[i]) != math.Float32bits(wantDh[i]) {
							t.Fatalf("dh[%d] (position %d) = %v, full head %v", i, i/d.Hidden, dh[i], wantDh[i])
						}
					}
					if head != "trained" {
						return
					}
					gW := n.savedGrad(n.headMod)
					worst := 0.0
					for i := range gW {
						worst = max(worst, math.Abs(float64(wantDW[i])))
					}
					for i := range gW {
						if diff := math.Abs(float64(gW[i] - wantDW[i])); diff > 1e-6*worst+1e-6*math.Abs(float64(wantDW[i])) {
							t.Fatalf("dW[%d] = %v, full head %v", i, gW[i], wantDW[i])
						}
					}
					if c.items > 0 && worst == 0 {
						t.Fatal("zero weight gradient: the case tests nothing")
					}
				})
			}
		}
	}
}
