package train

import (
	"math/rand/v2"
	"testing"

	"github.com/crossin-lab/crossin/engine/lora"
)

// Shapes of scripts/bench_torch: the reference tiny Llama, a 19M model and
// SmolLM2-135M.
var benchShapes = map[string]Dims{
	"tiny": {Vocab: 32000, Hidden: 32, Inter: 64, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 8, NormEps: 1e-5},
	"19M":  {Vocab: 32000, Hidden: 256, Inter: 688, Layers: 4, Heads: 8, KVHeads: 4, HeadDim: 32, NormEps: 1e-5},
	"smol": {Vocab: 49152, Hidden: 576, Inter: 1536, Layers: 30, Heads: 9, KVHeads: 3, HeadDim: 64, NormEps: 1e-5},
}

// benchStep times one optimiser step (forward, backward, AdamW) of LoRA r 8
// on all seven projections, batch B of T random tokens, labels everywhere.
func benchStep(b *testing.B, shape string, B, T int) {
	d := benchShapes[shape]
	d.InvFreq = DefaultInvFreq(10000, d.HeadDim)
	base := RandomBase(d, 1)
	ad, err := lora.New(lora.Config{R: 8, Alpha: 16, TargetModules: lora.Modules, InitWeights: true}, d.Layers, d.Shape, 1)
	if err != nil {
		b.Fatal(err)
	}
	n, err := NewNet(base, ad, 0)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	batch := &Batch{B: B, T: T}
	for i := 0; i < B*T; i++ {
		id := int32(rng.IntN(d.Vocab))
		batch.IDs, batch.Labels, batch.Mask = append(batch.IDs, id), append(batch.Labels, id), append(batch.Mask, 1)
	}
	opt := NewAdamW(sizes(n.Params()), 0)
	items := batch.Items()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n.ZeroGrads()
		if _, err := n.Backward(batch, items); err != nil {
			b.Fatal(err)
		}
		opt.Update(n.Params(), n.Grads, 1e-4)
	}
	b.ReportMetric(float64(B*T)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

func BenchmarkTrainStepTiny(b *testing.B) { benchStep(b, "tiny", 4, 256) }
func BenchmarkTrainStep19M(b *testing.B)  { benchStep(b, "19M", 4, 256) }
func BenchmarkTrainStepSmol(b *testing.B) { benchStep(b, "smol", 2, 256) }
