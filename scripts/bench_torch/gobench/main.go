// Command gobench times LoRA training steps of the embedded engine on a
// random Llama: the Go half of scripts/bench_torch/bench.py, which runs the
// same shape in PyTorch and prints both. It prints one JSON object.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/crossin-lab/crossin/engine/lora"
	"github.com/crossin-lab/crossin/engine/train"
)

func main() {
	var d train.Dims
	var batch, seq, steps, warmup, r int
	flag.IntVar(&d.Vocab, "vocab", 32000, "vocabulary")
	flag.IntVar(&d.Hidden, "hidden", 32, "hidden size")
	flag.IntVar(&d.Inter, "inter", 64, "intermediate size")
	flag.IntVar(&d.Layers, "layers", 2, "layers")
	flag.IntVar(&d.Heads, "heads", 4, "attention heads")
	flag.IntVar(&d.KVHeads, "kv-heads", 2, "key/value heads")
	flag.IntVar(&batch, "batch", 4, "micro-batch")
	flag.IntVar(&seq, "seq", 256, "sequence length")
	flag.IntVar(&steps, "steps", 5, "timed steps")
	flag.IntVar(&warmup, "warmup", 1, "untimed steps")
	flag.IntVar(&r, "r", 8, "LoRA rank")
	flag.Parse()
	d.HeadDim = d.Hidden / d.Heads
	d.NormEps = 1e-5
	d.InvFreq = train.DefaultInvFreq(10000, d.HeadDim)
	base := train.RandomBase(d, 1)
	ad, err := lora.New(lora.Config{R: r, Alpha: float64(2 * r), TargetModules: lora.Modules, InitWeights: true}, d.Layers, d.Shape, 1)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	net, err := train.NewNet(base, ad, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	b := &train.Batch{B: batch, T: seq}
	for i := 0; i < batch*seq; i++ {
		id := int32(rng.IntN(d.Vocab))
		b.IDs, b.Labels, b.Mask = append(b.IDs, id), append(b.Labels, id), append(b.Mask, 1)
	}
	var sz []int
	for _, p := range net.Params() {
		sz = append(sz, len(p))
	}
	opt := train.NewAdamW(sz, 0)
	items := b.Items()
	var times []float64
	var loss float64
	for i := 0; i < warmup+steps; i++ {
		t0 := time.Now()
		net.ZeroGrads()
		s, err := net.Backward(b, items)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		opt.Update(net.Params(), net.Grads, 1e-4)
		if i >= warmup {
			times = append(times, time.Since(t0).Seconds())
		}
		loss = s / float64(items)
	}
	slices.Sort(times)
	med := times[len(times)/2]
	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"engine": "crossin", "step_s": med, "tokens_per_s": float64(batch*seq) / med, "loss": loss,
	})
}
