package model

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/crossin-lab/crossin/engine/safetensors"
	"github.com/crossin-lab/crossin/engine/tensor"
)

// testLoRA is a minimal PEFT LoRA reader used to check the Adapter hook
// against transformers+peft; the real implementation lives in engine/lora.
type testLoRA struct {
	a, b  map[string][]float32
	r     int
	scale float32
}

func (t *testLoRA) AddDelta(l int, p Proj, x []float32, n int, y []float32) {
	key := fmt.Sprintf("base_model.model.model.layers.%d.%s", l, p.Module())
	A, B := t.a[key], t.b[key]
	if A == nil {
		return
	}
	in, out := len(A)/t.r, len(B)/t.r
	tmp := make([]float32, n*t.r)
	tensor.MatMulNT(tmp, x, A, n, t.r, in, false)
	for i := range tmp {
		tmp[i] *= t.scale
	}
	tensor.MatMulNT(y, tmp, B, n, out, t.r, true)
}

func loadTestLoRA(t *testing.T, path string, r int, alpha float64) *testLoRA {
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	lo := &testLoRA{a: map[string][]float32{}, b: map[string][]float32{}, r: r, scale: float32(alpha / float64(r))}
	for _, n := range f.Names() {
		v, _, err := f.Float32(n)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case contains(n, ".lora_A."):
			lo.a[n[:index(n, ".lora_A.")]] = v
		case contains(n, ".lora_B."):
			lo.b[n[:index(n, ".lora_B.")]] = v
		}
	}
	return lo
}

func contains(s, sub string) bool { return index(s, sub) >= 0 }
func index(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// TestReferenceGenerateWithAdapter reproduces peft's greedy generation
// with the adapter after one AdamW step, through the Adapter hook.
func TestReferenceGenerateWithAdapter(t *testing.T) {
	m := loadRef(t)
	var step struct {
		Generate []struct {
			Prompt    []int `json:"prompt_ids"`
			Generated []int `json:"generated_ids"`
		} `json:"generate"`
	}
	readJSON(t, ref(t, "tiny_llama_lora_step.json"), &step)
	m.SetAdapter(loadTestLoRA(t, ref(t, "tiny_llama_lora_after_adamw.safetensors"), 8, 16))
	defer m.SetAdapter(nil)
	var prompts [][]int
	for _, g := range step.Generate {
		prompts = append(prompts, g.Prompt)
	}
	// One at a time and batched must both match.
	for _, batch := range []bool{false, true} {
		var got [][]int
		if batch {
			var err error
			got, err = m.Generate(context.Background(), prompts, GenerateOptions{MaxNewTokens: 10})
			if err != nil {
				t.Fatal(err)
			}
		} else {
			for _, p := range prompts {
				g, err := m.Generate(context.Background(), [][]int{p}, GenerateOptions{MaxNewTokens: 10})
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, g[0])
			}
		}
		for i, g := range step.Generate {
			if fmt.Sprint(got[i]) != fmt.Sprint(g.Generated) {
				t.Errorf("batch=%v prompt %d: generated %v want %v", batch, i, got[i], g.Generated)
			}
		}
	}
}

// TestGenerateMatchesFullForward checks KV-cached greedy decoding against
// recomputing the whole sequence at every step, and EOS / length stops.
func TestGenerateMatchesFullForward(t *testing.T) {
	m := loadRef(t)
	prompts := [][]int{{1, 415, 2936, 9060}, {1, 28705, 28740, 28723, 10, 11, 12, 13, 14}}
	got, err := m.Generate(context.Background(), prompts, GenerateOptions{MaxNewTokens: 12, IgnoreEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	V := m.Config.VocabSize
	for i, p := range prompts {
		seq := append([]int(nil), p...)
		for s := 0; s < 12; s++ {
			lg, err := m.Forward(seq)
			if err != nil {
				t.Fatal(err)
			}
			row := lg[(len(seq)-1)*V:]
			best := 0
			for k, v := range row[:V] {
				if v > row[best] {
					best = k
				}
			}
			if got[i][s] != best {
				t.Fatalf("prompt %d step %d: cached %d, full forward %d", i, s, got[i][s], best)
			}
			seq = append(seq, best)
		}
	}
	// Stop on EOS: declare the first generated token an EOS.
	first := got[0][0]
	g, err := m.Generate(context.Background(), prompts[:1], GenerateOptions{MaxNewTokens: 12, EOS: []int{first}})
	if err != nil || len(g[0]) != 1 || g[0][0] != first {
		t.Fatalf("EOS stop: %v %v", g, err)
	}
	if _, err := m.Generate(context.Background(), [][]int{{}}, GenerateOptions{MaxNewTokens: 1}); err == nil {
		t.Fatal("empty prompt accepted")
	}
	if _, err := m.Generate(context.Background(), [][]int{{1, V}}, GenerateOptions{MaxNewTokens: 1}); err == nil {
		t.Fatal("out-of-vocabulary id accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Generate(ctx, prompts, GenerateOptions{MaxNewTokens: 3}); err == nil {
		t.Fatal("cancelled context ignored")
	}
}

// TestScoreOptions compares shared-prefix option scoring with NLL of the
// concatenated sequences.
func TestScoreOptions(t *testing.T) {
	m := loadRef(t)
	prompt := []int{1, 22478, 28747, 13, 3195, 349}
	options := [][]int{{28705}, {28705, 28750, 28806}, {}, {325, 28760, 28731, 28705, 28781, 2}}
	got, err := m.ScoreOptions(prompt, options)
	if err != nil {
		t.Fatal(err)
	}
	for i, opt := range options {
		seq := append(append([]int(nil), prompt...), opt...)
		nll, err := m.NLL(seq)
		if err != nil {
			t.Fatal(err)
		}
		want := 0.0
		for j := len(prompt) - 1; j < len(nll); j++ {
			want -= nll[j]
		}
		if math.Abs(got[i]-want) > 1e-4 {
			t.Errorf("option %d: %v want %v", i, got[i], want)
		}
	}
	if _, err := m.ScoreOptions(prompt, [][]int{{-1}}); err == nil {
		t.Fatal("negative id accepted")
	}
}

func TestScoreOptionsBatch(t *testing.T) {
	m := loadRef(t)
	prompts := [][]int{{1, 22478, 28747}, {1, 4335, 10020, 272, 2296}}
	options := [][][]int{{{13}, {3195, 349}}, {{12271, 778, 4300}, {}, {28723}}}
	got, err := m.ScoreOptionsBatch(prompts, options)
	if err != nil {
		t.Fatal(err)
	}
	for q := range prompts {
		one, err := m.ScoreOptions(prompts[q], options[q])
		if err != nil {
			t.Fatal(err)
		}
		for i := range one {
			if math.Abs(one[i]-got[q][i]) > 1e-5 {
				t.Errorf("prompt %d option %d: batched %v alone %v", q, i, got[q][i], one[i])
			}
		}
	}
	if _, err := m.ScoreOptionsBatch(prompts, options[:1]); err == nil {
		t.Fatal("mismatched lengths accepted")
	}
}
