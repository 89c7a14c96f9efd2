package model

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"testing"
)

// benchShapes are the figures the issue asks for: the tiny 2-layer/64-dim
// model and a 135M-parameter SmolLM2-shaped random model.
var benchShapes = []struct {
	name string
	ic   InitConfig
}{
	{"tiny-2x64", InitConfig{Layers: 2, Hidden: 64, Heads: 4, KVHeads: 2, Intermediate: 172, Vocab: 32000}},
	{"smollm2-135m", InitConfig{Layers: 30, Hidden: 576, Heads: 9, KVHeads: 3, Intermediate: 1536, Vocab: 49152, Tie: true}},
}

// forwardFLOPs is the multiply-add work of a causal forward pass over
// batch×seq tokens including the LM head on every position: 2 FLOPs per
// weight per token, plus QKᵀ and PV over on average seq/2 positions.
func forwardFLOPs(c *Config, batch, seq int) float64 {
	h, q, kv, in := c.HiddenSize, c.QDim(), c.KVDim(), c.IntermediateSize
	perTok := float64(c.NumLayers*(h*q+2*h*kv+q*h+3*h*in) + c.VocabSize*h)
	att := float64(c.NumLayers) * 2 * float64(q) * float64(seq) // 2·(seq/2)·q for QKᵀ and again for PV
	return 2 * float64(batch*seq) * (perTok + att/2)
}

func benchModel(b *testing.B, ic InitConfig) *Model {
	dir := b.TempDir()
	if err := Init(dir, ic); err != nil {
		b.Fatal(err)
	}
	m, err := Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return m
}

// BenchmarkForward measures prefill throughput (batch 4 × 256 tokens,
// logits for every position, as a training or scoring forward needs).
func BenchmarkForward(b *testing.B) {
	const batch, seq = 4, 256
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) {
			m := benchModel(b, s.ic)
			toks := make([][]int, batch)
			for i := range toks {
				toks[i] = make([]int, seq)
				for j := range toks[i] {
					toks[i][j] = (i*7919 + j*104729) % m.Config.VocabSize
				}
			}
			lg := make([]float32, logitChunk*m.Config.VocabSize)
			b.ResetTimer()
			cpu0 := cpuSeconds()
			for it := 0; it < b.N; it++ {
				caches := make([]*Cache, batch)
				for i := range caches {
					caches[i] = m.NewCache()
				}
				hs, err := m.Step(caches, toks)
				if err != nil {
					b.Fatal(err)
				}
				for r := 0; r < batch*seq; r += logitChunk {
					m.LogitsInto(lg, hs[r*m.Config.HiddenSize:], min(logitChunk, batch*seq-r))
				}
			}
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(b.N*batch*seq)/sec, "tokens/s")
			b.ReportMetric(forwardFLOPs(m.Config, batch, seq)*float64(b.N)/sec/1e9, "GFLOP/s")
			reportCPU(b, cpuSeconds()-cpu0, float64(b.N*batch*seq))
		})
	}
}

// BenchmarkGenerate measures greedy decoding with the KV cache: one
// 32-token prompt, 32 new tokens.
func BenchmarkGenerate(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) {
			m := benchModel(b, s.ic)
			prompt := make([]int, 32)
			for j := range prompt {
				prompt[j] = (j*104729 + 1) % m.Config.VocabSize
			}
			b.ResetTimer()
			for it := 0; it < b.N; it++ {
				if _, err := m.Generate(context.Background(), [][]int{prompt}, GenerateOptions{MaxNewTokens: 32, IgnoreEOS: true}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*32)/b.Elapsed().Seconds(), "new-tokens/s")
		})
	}
}

// BenchmarkForwardTorch runs the same forward pass in PyTorch (Debian's
// python3-torch with OpenBLAS, 2 threads) as the baseline for
// BenchmarkForward; run both in one `go test -bench 'Forward' -benchtime 3x`
// and compare the tokens/s. Skipped when /usr/bin/python3 has no torch.
func BenchmarkForwardTorch(b *testing.B) {
	const batch, seq = 4, 256
	if err := exec.Command("/usr/bin/python3", "-c", "import torch").Run(); err != nil {
		b.Skip("no PyTorch for /usr/bin/python3 (apt-get install python3-torch libopenblas0-pthread)")
	}
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) {
			ic := s.ic
			args := []string{"testdata/forward_torch.py"}
			for _, v := range []int{ic.Layers, ic.Hidden, ic.Heads, ic.KVHeads, ic.Intermediate, ic.Vocab, batch, seq, max(b.N, 2)} {
				args = append(args, strconv.Itoa(v))
			}
			cmd := exec.Command("/usr/bin/python3", args...)
			cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread", "OMP_NUM_THREADS=2")
			out, err := cmd.Output()
			if err != nil {
				b.Fatalf("%v: %s", err, out)
			}
			var r struct {
				TokensPerS    float64 `json:"tokens_per_s"`
				TokensPerCPUS float64 `json:"tokens_per_cpu_s"`
				BLAS          string  `json:"blas"`
			}
			if err := json.Unmarshal(out, &r); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
			cfg, err := ParseConfig(fmt.Appendf(nil, `{"model_type":"llama","vocab_size":%d,"hidden_size":%d,"intermediate_size":%d,"num_hidden_layers":%d,"num_attention_heads":%d,"num_key_value_heads":%d}`,
				ic.Vocab, ic.Hidden, ic.Intermediate, ic.Layers, ic.Heads, ic.KVHeads), "bench")
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(r.TokensPerS, "tokens/s")
			b.ReportMetric(r.TokensPerCPUS*float64(runtime.GOMAXPROCS(0)), "tokens/s@full-cpu")
			b.ReportMetric(forwardFLOPs(cfg, batch, seq)/float64(batch*seq)*r.TokensPerS/1e9, "GFLOP/s")
			b.Logf("PyTorch baseline, BLAS %s, median of %d runs", r.BLAS, max(b.N, 2))
		})
	}
}

// cpuSeconds is this process's user+system CPU time. The benchmarks also
// report throughput per CPU-second scaled to GOMAXPROCS ("@full-cpu"): on a
// shared machine wall-clock figures depend on the neighbours' load, while
// this estimates the rate with all cores to ourselves.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func reportCPU(b *testing.B, cpu, tokens float64) {
	if cpu > 0 {
		b.ReportMetric(tokens/cpu*float64(runtime.GOMAXPROCS(0)), "tokens/s@full-cpu")
	}
}
