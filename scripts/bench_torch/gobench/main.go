// Command gobench times the embedded engine on a random Llama: LoRA
// training steps (-mode train, engine/train) or forward passes with logits
// at every position (-mode forward, engine/model, the evaluation engine).
// It is the Go half of scripts/bench_torch/bench.py, which runs the same
// shape in PyTorch, each engine in its own process, and prints both. It
// prints one JSON object.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"slices"
	"syscall"
	"time"

	"github.com/crossin-lab/crossin/engine/lora"
	"github.com/crossin-lab/crossin/engine/model"
	"github.com/crossin-lab/crossin/engine/tensor"
	"github.com/crossin-lab/crossin/engine/train"
)

func main() {
	var d train.Dims
	var batch, seq, steps, warmup, r int
	var mode string
	var tie bool
	flag.StringVar(&mode, "mode", "train", "train (LoRA steps), forward (logits at every position, on the model in -model) or init (write a random model into -model)")
	modelDir := flag.String("model", "", "forward, init: the model directory")
	flag.BoolVar(&tie, "tie", false, "forward: LM head tied to the embeddings")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the timed steps to this file")
	memprofile := flag.String("memprofile", "", "train: write a heap profile (in use after the last step) to this file")
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
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fail(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fail(err)
		}
		defer pprof.StopCPUProfile()
	}
	ic := model.InitConfig{Layers: d.Layers, Hidden: d.Hidden, Heads: d.Heads, KVHeads: d.KVHeads,
		Intermediate: d.Inter, Vocab: d.Vocab, Tie: tie, Seed: 1, MaxPositions: seq}
	switch mode {
	case "init":
		// A process of its own, so that the forward process's peak RSS is
		// that of evaluating a model, not of generating one.
		if err := model.Init(*modelDir, ic); err != nil {
			fail(err)
		}
		return
	case "forward":
		forward(*modelDir, batch, seq, steps, warmup)
		return
	}
	if mode != "train" {
		fail(fmt.Errorf("-mode %q: want train, forward or init", mode))
	}
	d.HeadDim = d.Hidden / d.Heads
	d.NormEps = 1e-5
	d.InvFreq = train.DefaultInvFreq(10000, d.HeadDim)
	base := train.RandomBase(d, 1)
	ad, err := lora.New(lora.Config{R: r, Alpha: float64(2 * r), TargetModules: lora.Modules, InitWeights: true}, d.Layers, d.Shape, 1)
	if err != nil {
		fail(err)
	}
	net, err := train.NewNet(base, ad, 0)
	if err != nil {
		fail(err)
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
	var loss, cpu float64
	for i := 0; i < warmup+steps; i++ {
		if i == warmup {
			cpu = -cpuSeconds()
		}
		t0 := time.Now()
		net.ZeroGrads()
		s, err := net.Backward(b, items)
		if err != nil {
			fail(err)
		}
		opt.Update(net.Params(), net.Grads, 1e-4)
		if i >= warmup {
			times = append(times, time.Since(t0).Seconds())
		}
		loss = s / float64(items)
	}
	cpu += cpuSeconds()
	if *memprofile != "" {
		f, err := os.Create(*memprofile)
		if err != nil {
			fail(err)
		}
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			fail(err)
		}
		f.Close()
	}
	slices.Sort(times)
	med := times[len(times)/2]
	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"engine": "crossin", "mode": "train", "step_s": med, "tokens_per_s": float64(batch*seq) / med, "loss": loss,
		"tokens_per_cpu_s": float64(batch*seq*steps) / cpu,
		"arithmetic":       tensor.ArithmeticPath(),
	})
}

// forward times the evaluation engine's prefill of batch sequences of seq
// tokens with the LM head on every position, as PyTorch's forward does.
func forward(dir string, batch, seq, steps, warmup int) {
	m, err := model.Load(dir)
	if err != nil {
		fail(err)
	}
	defer m.Close()
	V := m.Config.VocabSize
	toks := make([][]int, batch)
	for i := range toks {
		toks[i] = make([]int, seq)
		for j := range toks[i] {
			toks[i][j] = (i*7919 + j*104729) % V
		}
	}
	const chunk = 64 // rows of logits at a time, as the evaluation does
	lg := make([]float32, chunk*V)
	var times []float64
	var cpu float64
	for it := 0; it < warmup+steps; it++ {
		if it == warmup {
			cpu = -cpuSeconds()
		}
		t0 := time.Now()
		caches := make([]*model.Cache, batch)
		for i := range caches {
			caches[i] = m.NewCache()
		}
		hs, err := m.Step(caches, toks)
		if err != nil {
			fail(err)
		}
		h := m.Config.HiddenSize
		for r := 0; r < batch*seq; r += chunk {
			m.LogitsInto(lg, hs[r*h:], min(chunk, batch*seq-r))
		}
		if it >= warmup {
			times = append(times, time.Since(t0).Seconds())
		}
	}
	cpu += cpuSeconds()
	slices.Sort(times)
	med := times[len(times)/2]
	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"engine": "crossin", "mode": "forward", "step_s": med, "tokens_per_s": float64(batch*seq) / med,
		"tokens_per_cpu_s": float64(batch*seq*steps) / cpu,
		"arithmetic":       tensor.ArithmeticPath(),
	})
}

// cpuSeconds is this process's user+system CPU time: on a shared machine
// tokens per CPU-second say more than the wall clock about the engine.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gobench:", err)
	os.Exit(1)
}
