package model

import (
	"fmt"
	"math"
	"testing"
)

// TestStepScratchReuse checks that Step's reused temporaries (the
// attention scratch, the pooled slab) never leak into results and that its
// parallel loops do not change them: the hidden states of a sequence are
// the same bits on one goroutine or several, whether it runs first, after
// longer or shorter sequences, or inside a batch, and the same holds for
// forked caches (attention over two segments). It covers full and
// sliding-window attention, SiLU and GELU gates, and prefills longer than
// one query block.
func TestStepScratchReuse(t *testing.T) {
	cases := []struct {
		arch   string
		window int
	}{
		{"llama", 0},
		{"llama", 5},
		{"gemma", 0},
	}
	for _, c := range cases {
		m := smallModel(t, c.arch, c.window)
		h := m.Config.HiddenSize
		seqs := [][]int{mkSeq(7, 1), mkSeq(150, 2), mkSeq(3, 3), mkSeq(70, 4)}
		run := func(batch [][]int) [][]float32 {
			caches := make([]*Cache, len(batch))
			for i := range caches {
				caches[i] = m.NewCache()
			}
			hs, err := m.Step(caches, batch)
			if err != nil {
				t.Fatal(err)
			}
			out := make([][]float32, len(batch))
			r := 0
			for i, s := range batch {
				out[i] = hs[r*h : (r+len(s))*h]
				r += len(s)
			}
			return out
		}
		// The reference runs on one goroutine; the rest split rows, heads
		// and elements over several (Threads(4) even on fewer CPUs).
		m.SetThreads(1)
		want := make([][]float32, len(seqs))
		for i, s := range seqs {
			want[i] = append([]float32(nil), run([][]int{s})[0]...)
		}
		m.SetThreads(4)
		name := c.arch + "/window " + string(rune('0'+c.window))
		for i := len(seqs) - 1; i >= 0; i-- { // reverse order: scratch left by longer runs
			sameBits(t, name+" alone", want[i], run([][]int{seqs[i]})[0])
		}
		got := run([][]int{seqs[2], seqs[0], seqs[3], seqs[1]})
		for j, i := range []int{2, 0, 3, 1} {
			sameBits(t, name+" batched", want[i], got[j])
		}
		// Forks of a shared prefix, continued in both orders.
		fork := func(order []int) [][]float32 {
			base := m.NewCache()
			if _, err := m.Step([]*Cache{base}, [][]int{seqs[3][:40]}); err != nil {
				t.Fatal(err)
			}
			var cs []*Cache
			var toks [][]int
			for _, i := range order {
				cs = append(cs, base.Fork())
				toks = append(toks, seqs[i])
			}
			hs, err := m.Step(cs, toks)
			if err != nil {
				t.Fatal(err)
			}
			out := map[int][]float32{}
			r := 0
			for j, i := range order {
				out[i] = hs[r*h : (r+len(toks[j]))*h]
				r += len(toks[j])
			}
			return [][]float32{out[0], out[1]}
		}
		a, b := fork([]int{0, 1}), fork([]int{1, 0})
		sameBits(t, name+" fork", a[0], b[0])
		sameBits(t, name+" fork", a[1], b[1])
		m.Close()
	}
}

// smallModel is a random two-layer model of the given architecture, with
// a sliding window of window positions (0: none; Init allows one for
// mistral only, so it is set afterwards).
func smallModel(t *testing.T, arch string, window int) *Model {
	t.Helper()
	dir := t.TempDir()
	if err := Init(dir, InitConfig{Arch: arch, Layers: 2, Hidden: 64, Heads: 4, KVHeads: 2, Intermediate: 96, Vocab: 300, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	m.Config.SlidingWindow = window
	return m
}

func mkSeq(n, seed int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = (seed*7919 + i*104729) % 300
	}
	return s
}

func sameBits(t *testing.T, what string, want, got []float32) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
			t.Fatalf("%s: value %d = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// TestGate checks the gated MLP's elementwise pass, including the direct
// SiLU loop, against act(g)·u computed through Activation, for every
// activation name and a length that spans several parallel chunks.
func TestGate(t *testing.T) {
	for _, name := range []string{"silu", "", "gelu", "gelu_pytorch_tanh", "gelu_new", "gelu_fast"} {
		m := &Model{act: Activation(name), silu: gelu(name) == nil, threads: 2}
		n := 3*4096 + 17
		g, u, want := make([]float32, n), make([]float32, n), make([]float32, n)
		act := Activation(name)
		for i := range g {
			g[i] = float32(math.Sin(float64(i)*0.013)) * 12
			u[i] = float32(math.Cos(float64(i) * 0.007))
			want[i] = act(g[i]) * u[i]
		}
		m.gate(g, u)
		sameBits(t, "gate "+name, want, g)
	}
}

// Prefill leaves the caches Step would: continuations stepped after it,
// directly or from forks as the option scorer does, get Step's hidden
// states bit for bit, and the cached keys and values of every layer are
// the same.
func TestPrefillMatchesStep(t *testing.T) {
	for _, c := range []struct {
		arch   string
		window int
	}{{"llama", 0}, {"llama", 5}, {"gemma", 0}} {
		t.Run(fmt.Sprintf("%s/window=%d", c.arch, c.window), func(t *testing.T) {
			m := smallModel(t, c.arch, c.window)
			prompts := [][]int{mkSeq(40, 1), mkSeq(9, 2)}
			conts := [][]int{mkSeq(6, 3), mkSeq(1, 4)}
			run := func(prefill bool) ([]float32, []float32, []*Cache) {
				caches := []*Cache{m.NewCache(), m.NewCache()}
				if prefill {
					if err := m.Prefill(caches, prompts); err != nil {
						t.Fatal(err)
					}
				} else if _, err := m.Step(caches, prompts); err != nil {
					t.Fatal(err)
				}
				forks := []*Cache{caches[0].Fork(), caches[1].Fork()}
				hs, err := m.Step(caches, conts)
				if err != nil {
					t.Fatal(err)
				}
				hf, err := m.Step(forks, conts)
				if err != nil {
					t.Fatal(err)
				}
				return hs, hf, caches
			}
			hs, hf, cs := run(false)
			ps, pf, cp := run(true)
			sameBits(t, "hidden states after the prompt", hs, ps)
			sameBits(t, "hidden states from forks", hf, pf)
			for i := range cs {
				for l := range cs[i].k {
					sameBits(t, fmt.Sprintf("cache %d layer %d keys", i, l), cs[i].k[l], cp[i].k[l])
					sameBits(t, fmt.Sprintf("cache %d layer %d values", i, l), cs[i].v[l], cp[i].v[l])
				}
			}
		})
	}
}
