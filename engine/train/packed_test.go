package train

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/crossin-lab/crossin/engine/lora"
	"github.com/crossin-lab/crossin/engine/model"
	"github.com/crossin-lab/crossin/engine/tensor"
)

func TestPackBatch(t *testing.T) {
	const I = IgnoreIndex
	for _, c := range []struct {
		name   string
		mask   [][]uint8
		labels [][]int32
		want   []int // kept positions per row
	}{
		{"full rows", [][]uint8{{1, 1, 1}, {1, 1, 1}}, [][]int32{{I, 5, 6}, {I, I, 7}}, []int{3, 3}},
		{"right padding dropped", [][]uint8{{1, 1, 1, 1}, {1, 1, 0, 0}}, [][]int32{{I, 5, 6, 7}, {I, 4, I, I}}, []int{4, 2}},
		{"a padding position whose next label counts is kept", [][]uint8{{1, 0, 0, 0}}, [][]int32{{I, I, 3, I}}, []int{2}},
		{"padding in the middle is kept", [][]uint8{{1, 0, 1, 0}}, [][]int32{{I, I, 3, I}}, []int{3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			B, T := len(c.mask), len(c.mask[0])
			b := &Batch{B: B, T: T}
			for r := range B {
				for p := range T {
					b.IDs, b.Labels, b.Mask = append(b.IDs, 1), append(b.Labels, c.labels[r][p]), append(b.Mask, c.mask[r][p])
				}
			}
			pk := packBatch(b)
			var got []int
			for r := range B {
				got = append(got, pk.rowLen(r))
				for i := pk.start[r]; i < pk.start[r+1]; i++ {
					if p := i - pk.start[r]; pk.pos[i] != p || pk.src[i] != r*T+p {
						t.Fatalf("row %d: packed row %d has position %d, padded index %d", r, i, pk.pos[i], pk.src[i])
					}
				}
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("kept lengths %v, want %v", got, c.want)
			}
			all := packAll(b)
			if all.n != B*T || all.squares() != B*T*T {
				t.Errorf("packAll keeps %d rows (%d squares), want %d", all.n, all.squares(), B*T)
			}
		})
	}
}

// TestPackedMatchesPadded: the training pass over the packed positions
// gives the losses and gradients of the pass over the whole padded batch
// (the layout before packing): bit for bit on the AVX-512 path, whose
// products are one chain per element (the dropped positions only add
// zeros), and to rounding on the paths whose reduction tree depends on K.
// The shapes make the reductions over positions long enough (K ≥ 160) to
// reach the AVX2 path's dot-product tiles, and the batch has dropout,
// grouped heads, right padding of several lengths and trained embeddings.
func TestPackedMatchesPadded(t *testing.T) {
	defer tensor.UseKernels(tensor.UseKernels(tensor.Kernels()[0]))
	d := Dims{Vocab: 97, Hidden: 24, Inter: 40, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 6, NormEps: 1e-5}
	d.InvFreq = DefaultInvFreq(10000, d.HeadDim)
	for _, kp := range tensor.Kernels() {
		tensor.UseKernels(kp)
		for _, saved := range [][]string{nil, {"embed_tokens", "lm_head"}} {
			name := "lora"
			if saved != nil {
				name = "lora+embed+head"
			}
			t.Run(tensor.ArithmeticPath()+"/"+name, func(t *testing.T) {
				rng := rand.New(rand.NewPCG(3, 9))
				b := randomBatch(rng, 5, 90, d.Vocab)
				pk := packBatch(b)
				if pk.n >= b.B*b.T || pk.n < 160 {
					t.Fatalf("the batch keeps %d of %d positions: it tests nothing", pk.n, b.B*b.T)
				}
				run := func(pk *packed) ([]float64, [][]float32) {
					base := RandomBase(d, 5)
					ad := randomAdapter(t, d, 4, 8, 0.2, lora.Modules, 6)
					for _, m := range saved {
						ad.Config.ModulesToSave = append(ad.Config.ModulesToSave, m)
						w := slices.Clone(base.Embed)
						if m == "lm_head" {
							w = slices.Clone(base.LMHead)
						}
						ad.Saved = append(ad.Saved, &lora.Full{Module: m, Rows: d.Vocab, Cols: d.Hidden, W: w})
					}
					n, err := NewNet(base, ad, 2)
					if err != nil {
						t.Fatal(err)
					}
					scale := make([]float32, b.B)
					for r := range scale {
						scale[r] = 1 / float32(1+r)
					}
					n.transposes()
					losses := n.backwardPacked(pk, scale)
					return losses, n.Grads
				}
				gotL, gotG := run(pk)
				wantL, wantG := run(packAll(b))
				exact := tensor.ArithmeticPath() == "amd64-avx512"
				for p := range wantL {
					if exact && math.Float64bits(gotL[p]) != math.Float64bits(wantL[p]) || math.Abs(gotL[p]-wantL[p]) > 1e-5*(1+math.Abs(wantL[p])) {
						t.Fatalf("loss at position %d: packed %v, padded %v", p, gotL[p], wantL[p])
					}
				}
				for g := range wantG {
					worst := 0.0
					for _, v := range wantG[g] {
						worst = max(worst, math.Abs(float64(v)))
					}
					if worst == 0 {
						t.Fatalf("gradient %d is zero: the case tests nothing", g)
					}
					for i, v := range wantG[g] {
						w := gotG[g][i]
						if exact && math.Float32bits(w) != math.Float32bits(v) || math.Abs(float64(w-v)) > 1e-4*worst {
							t.Fatalf("gradient %d[%d]: packed %v, padded %v", g, i, w, v)
						}
					}
				}
			})
		}
	}
}

// TestPCGMatchesMathRand: the dropout stream is math/rand/v2's PCG value
// for value, and advance(n) lands where n draws do.
func TestPCGMatchesMathRand(t *testing.T) {
	for _, seed := range [][2]uint64{{0, 0}, {1, 2}, {0xdeadbeef, 7<<8 | 3}, {^uint64(0), ^uint64(0)}} {
		ref := rand.NewPCG(seed[0], seed[1])
		p := pcg{hi: seed[0], lo: seed[1]}
		for i := range 1000 {
			if got, want := p.uint64(), ref.Uint64(); got != want {
				t.Fatalf("seed %v draw %d: %#x, math/rand %#x", seed, i, got, want)
			}
		}
		ref2 := rand.New(rand.NewPCG(seed[0], seed[1]))
		for _, n := range []uint64{0, 1, 2, 3, 7, 64, 1000, 123457} {
			q := pcg{hi: seed[0], lo: seed[1]}
			q.advance(n)
			r := rand.NewPCG(seed[0], seed[1])
			for range n {
				r.Uint64()
			}
			if got, want := q.uint64(), r.Uint64(); got != want {
				t.Fatalf("seed %v: advance(%d) then draw %#x, %d draws then draw %#x", seed, n, got, n, want)
			}
		}
		// rand.Float64 is a draw's low 53 bits over 2⁵³, the premise of
		// dropThreshold and dropKeep.
		q := pcg{hi: seed[0], lo: seed[1]}
		for range 10 {
			if got, want := float64(q.uint64()<<11>>11)/(1<<53), ref2.Float64(); got != want {
				t.Fatalf("low 53 bits / 2⁵³ = %v, rand.Float64 %v", got, want)
			}
		}
	}
}

// TestArena: a pass's buffers come from one slab once the largest pass is
// known, zero gives zeros over a previous pass's data, and buffers of one
// pass never overlap.
func TestArena(t *testing.T) {
	var a arena
	sizes := []int{10, 300, 7, 64}
	for pass := range 4 {
		a.reset()
		var bufs [][]float32
		for i, n := range sizes {
			var b []float32
			if i%2 == 0 {
				b = a.zero(n)
				for _, v := range b {
					if v != 0 {
						t.Fatalf("pass %d: zero(%d) holds %v", pass, n, v)
					}
				}
			} else {
				b = a.get(n)
			}
			if len(b) != n || cap(b) != n {
				t.Fatalf("pass %d: buffer of len %d cap %d, want %d", pass, len(b), cap(b), n)
			}
			for j := range b {
				b[j] = float32(i + 1)
			}
			bufs = append(bufs, b)
		}
		for i, b := range bufs {
			for _, v := range b {
				if v != float32(i+1) {
					t.Fatalf("pass %d: buffer %d was overwritten by another (%v)", pass, i, v)
				}
			}
		}
		if fromSlab := a.more == 0; fromSlab != (pass > 0) {
			t.Errorf("pass %d: %d values outside the slab", pass, a.more)
		}
	}
}

// TestDropMaskMatchesStream holds dropMask (four rows' streams side by
// side, integer threshold, masks instead of branches) to its definition:
// one math/rand/v2 PCG stream over the padded layout, rand.Float64() ≥ p
// keeps a value (scaled by 1/(1−p)), the rest are +0. Rows are packed with
// gaps and runs of every length mod 4, on one and several goroutines.
func TestDropMaskMatchesStream(t *testing.T) {
	const in, B, T = 37, 5, 9
	lengths := []int{9, 0, 4, 7, 1} // padded rows kept of each batch row
	b := &Batch{B: B, T: T, DropSeed: 0x5eed}
	pk := packRows(b, func(r int) int { return lengths[r] })
	x := make([]float32, pk.n*in)
	for i := range x {
		x[i] = float32(i%13) - 6 // negatives too: a dropped value is +0, not -0
	}
	for _, p := range []float64{0.05, 0.5, 1 - 1.0/3} {
		keep := float32(1) / float32(1-p)
		for _, threads := range []int{1, 3} {
			n := &Net{dropout: p, pool: pool{threads: threads}}
			noise, xd := make([]float32, pk.n*in), make([]float32, pk.n*in)
			n.dropMask(noise, xd, x, in, 1, model.Proj(2), pk)
			ref := rand.New(rand.NewPCG(b.DropSeed, 1<<8|2+1))
			want := make([]float32, B*T*in) // the padded layout's multipliers
			for i := range want {
				if ref.Float64() >= p {
					want[i] = keep
				}
			}
			for i := range pk.n {
				for j := range in {
					w := want[pk.src[i]*in+j]
					wd := float32(0)
					if w != 0 {
						wd = x[i*in+j] * keep
					}
					if math.Float32bits(noise[i*in+j]) != math.Float32bits(w) || math.Float32bits(xd[i*in+j]) != math.Float32bits(wd) {
						t.Fatalf("p %v, %d threads: row %d (padded %d) value %d: noise %v xd %v, want %v %v", p, threads, i, pk.src[i], j, noise[i*in+j], xd[i*in+j], w, wd)
					}
				}
			}
		}
	}
}

// TestDropThreshold checks the integer form of rand.Float64() ≥ p at its
// edge: the threshold draw keeps its value, the one below it does not.
func TestDropThreshold(t *testing.T) {
	for _, p := range []float64{0, 0.05, 0.1, 0.5, 1 - 1.0/3, 0.999999, 1} {
		th := dropThreshold(p)
		if th > 0 && float64(th-1)/(1<<53) >= p {
			t.Errorf("p %v: draw %d (just below the threshold) would keep", p, th-1)
		}
		if th < 1<<53 && float64(th)/(1<<53) < p {
			t.Errorf("p %v: threshold draw %d would drop", p, th)
		}
	}
}
