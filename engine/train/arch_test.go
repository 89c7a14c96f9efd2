package train

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/crossin-lab/crossin/engine/lora"
	"github.com/crossin-lab/crossin/engine/model"
)

// TestArchitecturesMatchInference trains-forwards a tiny random model of
// each family through FromModel and checks the logits against the
// inference engine's forward with the same adapter applied (train.Apply):
// Mistral with a sliding window shorter than the sequence, Qwen2 with
// non-zero q/k/v biases, Gemma with (1+w) norms, scaled embeddings, GeGLU,
// a head_dim that is not hidden/heads, tied embeddings and both
// modules_to_save trained apart. The inference engine is itself checked
// against transformers (engine/model's reference tests); the backward pass
// of every piece is checked by finite differences (TestFiniteDifference).
func TestArchitecturesMatchInference(t *testing.T) {
	for _, tc := range []struct {
		arch          string
		headDim       int
		window        int
		save          []string
		bias, perturb bool
	}{
		{arch: "llama"},
		{arch: "mistral", window: 4},
		{arch: "qwen2", bias: true},
		{arch: "gemma", headDim: 12, save: []string{"embed_tokens", "lm_head"}, perturb: true},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), tc.arch)
			err := model.Init(dir, model.InitConfig{Arch: tc.arch, Layers: 2, Hidden: 32, Heads: 4, KVHeads: 2,
				Intermediate: 40, Vocab: 97, Seed: 3, InitStd: 0.2, HeadDim: tc.headDim, SlidingWindow: tc.window})
			if err != nil {
				t.Fatal(err)
			}
			m, err := model.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.Config.SlidingWindow != tc.window {
				t.Fatalf("sliding window %d, want %d", m.Config.SlidingWindow, tc.window)
			}
			rng := rand.New(rand.NewPCG(7, 7))
			perturb := func(v []float32, std float64) {
				for i := range v {
					v[i] += float32(rng.NormFloat64() * std)
				}
			}
			for l := range m.Weights.Layers {
				L := &m.Weights.Layers[l]
				if tc.bias {
					for _, p := range []model.Proj{model.ProjQ, model.ProjK, model.ProjV} {
						if L.Proj[p].B == nil {
							t.Fatalf("%s has no %s bias", tc.arch, p)
						}
						perturb(L.Proj[p].B, 0.5)
					}
				}
				if tc.perturb {
					perturb(L.InputNorm, 0.3)
					perturb(L.PostAttnNorm, 0.3)
				}
			}
			if tc.perturb {
				perturb(m.Weights.Norm, 0.3)
			}
			base, err := FromModel(m)
			if err != nil {
				t.Fatal(err)
			}
			ad := randomAdapter(t, base.Dims, 4, 8, 0, lora.Modules, 5)
			ad.Config.ModulesToSave = tc.save
			for _, name := range tc.save {
				w := slices.Clone(base.LMHead)
				if name == "embed_tokens" {
					w = slices.Clone(base.Embed)
				}
				perturb(w, 0.1) // trained apart: the two copies differ
				ad.Saved = append(ad.Saved, &lora.Full{Module: name, Rows: base.Vocab, Cols: base.Hidden, W: w})
			}
			n, err := NewNet(base, ad, 2)
			if err != nil {
				t.Fatal(err)
			}
			b := randomBatch(rand.New(rand.NewPCG(9, 9)), 3, 11, base.Vocab)
			logits, err := n.Logits(b)
			if err != nil {
				t.Fatal(err)
			}
			undo, err := Apply(m, ad)
			if err != nil {
				t.Fatal(err)
			}
			defer undo()
			V := base.Vocab
			var worst, spread float64
			for r := 0; r < b.B; r++ {
				var ids []int
				for t := 0; t < b.T && b.Mask[r*b.T+t] == 1; t++ {
					ids = append(ids, int(b.IDs[r*b.T+t]))
				}
				inf, err := m.Forward(ids)
				if err != nil {
					t.Fatal(err)
				}
				for i := range inf {
					worst = math.Max(worst, math.Abs(float64(inf[i])-float64(logits[r*b.T*V+i])))
					spread = math.Max(spread, math.Abs(float64(inf[i])))
				}
			}
			if worst > 2e-5*math.Max(1, spread) {
				t.Errorf("training logits differ from inference logits by %.3g (logits up to %.3g)", worst, spread)
			}
			t.Logf("largest difference %.3g over logits up to %.3g", worst, spread)
		})
	}
}

// TestSlidingWindowMatters: the window changes the logits of positions
// past it and no others, so the comparison above would catch a trainer
// that ignored it.
func TestSlidingWindowMatters(t *testing.T) {
	d := tinyDims()
	full := RandomBase(d, 4)
	win := *full
	win.SlidingWindow = 3
	ad := randomAdapter(t, d, 2, 4, 0, []string{"q_proj"}, 1)
	b := randomBatch(rand.New(rand.NewPCG(2, 2)), 1, 8, d.Vocab)
	lf, lw := logitsOf(t, full, ad, b), logitsOf(t, &win, ad, b)
	for pos := 0; pos < b.T; pos++ {
		same := slices.Equal(lf[pos*d.Vocab:(pos+1)*d.Vocab], lw[pos*d.Vocab:(pos+1)*d.Vocab])
		if want := pos < 3; same != want {
			t.Errorf("position %d: logits equal with and without the window: %v, want %v", pos, same, want)
		}
	}
}

func logitsOf(t *testing.T, base *Base, ad *lora.Adapter, b *Batch) []float32 {
	t.Helper()
	n, err := NewNet(base, ad, 1)
	if err != nil {
		t.Fatal(err)
	}
	l, err := n.Logits(b)
	if err != nil {
		t.Fatal(fmt.Errorf("logits: %w", err))
	}
	return l
}

// TestArchitecturesDeterministicAcrossThreads: Gemma-like (GeGLU, scaled
// embeddings, tied embeddings trained as two modules_to_save copies) and
// Mistral-like (sliding window) runs with the sample loss reduction give
// byte-identical adapters and loss curves for any GOMAXPROCS, on shapes
// whose products run in parallel.
func TestArchitecturesDeterministicAcrossThreads(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*Dims)
		tied bool
		save []string
	}{
		{"gemma", func(d *Dims) {
			d.Act, d.EmbedScale = "gelu_pytorch_tanh", float32(math.Sqrt(float64(d.Hidden)))
		}, true, []string{"embed_tokens", "lm_head"}},
		{"mistral", func(d *Dims) { d.SlidingWindow = 5 }, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := parallelDims()
			tc.set(&d)
			base := RandomBase(d, 5)
			if tc.tied {
				base.LMHead = base.Embed
			}
			data := syntheticData(24, base.Vocab, 9)
			p := tinyParams(3)
			p.BatchSize, p.GradAccum, p.MaxLength, p.LossReduction = 8, 2, 16, LossSample
			p.LoRA.ModulesToSave = tc.save
			var ref []byte
			var refCurve string
			for _, procs := range []int{1, 2, 3} {
				old := runtime.GOMAXPROCS(procs)
				res, err := Run(context.Background(), base, data, p, WithSeed(42), WithThreads(procs))
				runtime.GOMAXPROCS(old)
				if err != nil {
					t.Fatal(err)
				}
				b, curve := adapterBytes(t, res.Adapter), fmt.Sprint(res.Curve)
				if ref == nil {
					ref, refCurve = b, curve
					continue
				}
				if !bytes.Equal(b, ref) || curve != refCurve {
					t.Errorf("GOMAXPROCS=%d: adapter or loss curve differs from GOMAXPROCS=1", procs)
				}
			}
		})
	}
}
