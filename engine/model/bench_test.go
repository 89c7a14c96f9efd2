package model

import (
	"context"
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
			b.ResetTimer()
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
					m.Logits(hs[r*m.Config.HiddenSize:], min(logitChunk, batch*seq-r))
				}
			}
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(b.N*batch*seq)/sec, "tokens/s")
			b.ReportMetric(forwardFLOPs(m.Config, batch, seq)*float64(b.N)/sec/1e9, "GFLOP/s")
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
