package model

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/crossin-lab/crossin/engine/tensor"
	"github.com/crossin-lab/crossin/internal/sharedtest"
)

// ref returns the path of a file of the Hugging Face reference outputs in
// ../shared/reference/hf-tiny-llama, skipping the test without it (failing
// under CROSSIN_REQUIRE_SHARED=1).
func ref(t testing.TB, name string) string {
	t.Helper()
	return sharedtest.Path(t, "reference/hf-tiny-llama/"+name)
}

func loadRef(t testing.TB) *Model {
	t.Helper()
	dir := ref(t, "tiny-llama")
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

type fwdCase struct {
	IDs       []int       `json:"ids"`
	NLL       []float64   `json:"next_token_nll"`
	Logits8   [][]float64 `json:"logits_first8"`
	Argmax    []int       `json:"argmax"`
	LogSumExp []float64   `json:"logsumexp"`
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// TestReferenceForward checks logits, argmax, logsumexp and per-token NLL
// against transformers' float32 forward pass, to 1e-4.
func TestReferenceForward(t *testing.T) {
	m := loadRef(t)
	var cases []fwdCase
	readJSON(t, ref(t, "tiny_llama_forward.json"), &cases)
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	V := m.Config.VocabSize
	const tol = 1e-4
	worst := 0.0
	for ci, c := range cases {
		lg, err := m.Forward(c.IDs)
		if err != nil {
			t.Fatal(err)
		}
		for i := range c.IDs {
			row := lg[i*V : (i+1)*V]
			for j, want := range c.Logits8[i] {
				d := math.Abs(float64(row[j]) - want)
				worst = math.Max(worst, d)
				if d > tol {
					t.Fatalf("case %d pos %d logit %d: %v want %v", ci, i, j, row[j], want)
				}
			}
			am := 0
			for j, v := range row {
				if v > row[am] {
					am = j
				}
			}
			if am != c.Argmax[i] {
				t.Errorf("case %d pos %d: argmax %d want %d", ci, i, am, c.Argmax[i])
			}
			if d := math.Abs(tensor.LogSumExpExact(row) - c.LogSumExp[i]); d > tol {
				t.Errorf("case %d pos %d: logsumexp off by %g", ci, i, d)
			}
		}
		nll, err := m.NLL(c.IDs)
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range c.NLL {
			if d := math.Abs(nll[i] - want); d > tol {
				t.Fatalf("case %d pos %d: nll %v want %v", ci, i, nll[i], want)
			}
		}
	}
	t.Logf("worst logit difference %.2g", worst)
	// Batched scoring gives the same NLLs as one at a time.
	var seqs [][]int
	for _, c := range cases {
		seqs = append(seqs, c.IDs)
	}
	batch, err := m.NLLBatch(seqs)
	if err != nil {
		t.Fatal(err)
	}
	for ci, c := range cases {
		for i, want := range c.NLL {
			if d := math.Abs(batch[ci][i] - want); d > tol {
				t.Fatalf("batched case %d pos %d: nll %v want %v", ci, i, batch[ci][i], want)
			}
		}
	}
}
