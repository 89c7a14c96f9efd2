package model

import "testing"

func BenchmarkProf(b *testing.B) {
	m := benchModel(b, InitConfig{Layers: 4, Hidden: 576, Heads: 9, KVHeads: 3, Intermediate: 1536, Vocab: 49152, Tie: true})
	toks := make([][]int, 4)
	for i := range toks {
		toks[i] = make([]int, 256)
		for j := range toks[i] {
			toks[i][j] = (i*7919 + j*104729) % m.Config.VocabSize
		}
	}
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		caches := make([]*Cache, 4)
		for i := range caches {
			caches[i] = m.NewCache()
		}
		m.Step(caches, toks)
	}
}

func BenchmarkProfLogits(b *testing.B) {
	m := benchModel(b, InitConfig{Layers: 1, Hidden: 576, Heads: 9, KVHeads: 3, Intermediate: 1536, Vocab: 49152, Tie: true})
	h := make([]float32, 64*576)
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		m.Logits(h, 64)
	}
	b.ReportMetric(2*64*576*49152*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
