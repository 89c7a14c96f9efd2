package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/internal/sharedtest"
)

// TestModelNLLReference runs `crossin model nll` on the reference tiny
// Llama and compares with transformers' per-token NLLs.
func TestModelNLLReference(t *testing.T) {
	refModel := sharedtest.Path(t, "reference/hf-tiny-llama")
	b, err := os.ReadFile(filepath.Join(refModel, "tiny_llama_forward.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		IDs []int     `json:"ids"`
		NLL []float64 `json:"next_token_nll"`
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	var in bytes.Buffer
	for _, c := range cases {
		line, _ := json.Marshal(c.IDs)
		in.Write(append(line, '\n'))
	}
	var out, errb bytes.Buffer
	if rc := Run(context.Background(), []string{"model", "nll", "--model", filepath.Join(refModel, "tiny-llama"), "--batch", "3"}, &in, &out, &errb); rc != 0 {
		t.Fatalf("exit %d: %s", rc, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("%d output lines for %d inputs", len(lines), len(cases))
	}
	for i, c := range cases {
		var got []float64
		if err := json.Unmarshal([]byte(lines[i]), &got); err != nil {
			t.Fatal(err)
		}
		for j, want := range c.NLL {
			if math.Abs(got[j]-want) > 1e-4 {
				t.Fatalf("line %d token %d: %v want %v", i+1, j, got[j], want)
			}
		}
	}
	// The PEFT adapter loads and changes the output.
	prompt := "[1, 4335, 10020, 272, 2296, 12271]\n"
	var base, adapted bytes.Buffer
	args := []string{"model", "generate", "--model", filepath.Join(refModel, "tiny-llama"), "--max-new-tokens", "5", "--ignore-eos"}
	if rc := Run(context.Background(), args, strings.NewReader(prompt), &base, &errb); rc != 0 {
		t.Fatalf("generate: %s", errb.String())
	}
	args = append(args, "--adapter", filepath.Join(refModel, "tiny-llama-lora-init"))
	if rc := Run(context.Background(), args, strings.NewReader(prompt), &adapted, &errb); rc != 0 {
		t.Fatalf("generate --adapter: %s", errb.String())
	}
	if base.String() == adapted.String() {
		t.Errorf("adapter had no effect: %s", base.String())
	}
}
