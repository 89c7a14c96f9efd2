package standin

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/crossin-lab/crossin/bench"
	"github.com/crossin-lab/crossin/dataset"
	"github.com/crossin-lab/crossin/engine/tokenizer"
	"github.com/crossin-lab/crossin/hub/hubserver"
	"github.com/crossin-lab/crossin/schema"
)

const checkout = "../.."

func llamaTokenizer(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(checkout, LlamaTokenizerDir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The stand-in tokenizers load in the engine, have the family's special
// tokens where the family has them, and round-trip text (byte fallback
// covers what the smaller vocabulary lacks).
func TestTokenizer(t *testing.T) {
	llama := llamaTokenizer(t)
	tests := []struct {
		layout       string
		bos, eos     int
		firstPieceOf string // a word the vocabulary must keep as one piece
	}{
		{LayoutLlama, 1, 2, "▁the"},
		{LayoutGemma, 2, 1, "▁the"},
	}
	for _, tt := range tests {
		t.Run(tt.layout, func(t *testing.T) {
			tok, cfg, err := Tokenizer(llama, tt.layout, StandInVocab)
			if err != nil {
				t.Fatal(err)
			}
			tok2, cfg2, _ := Tokenizer(llama, tt.layout, StandInVocab)
			if !bytes.Equal(tok, tok2) || !bytes.Equal(cfg, cfg2) {
				t.Fatal("not deterministic")
			}
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "tokenizer.json"), tok, 0o644)
			os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), cfg, 0o644)
			tk, err := tokenizer.LoadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if tk.VocabSize() != StandInVocab {
				t.Errorf("vocabulary %d, want %d", tk.VocabSize(), StandInVocab)
			}
			if b, _ := tk.BOS(); b != tt.bos {
				t.Errorf("BOS %d, want %d", b, tt.bos)
			}
			if e, _ := tk.EOS(); e != tt.eos {
				t.Errorf("EOS %d, want %d", e, tt.eos)
			}
			if _, ok := tk.TokenToID(tt.firstPieceOf); !ok {
				t.Errorf("%q is not in the vocabulary", tt.firstPieceOf)
			}
			text := "Give three tips for staying healthy. 给出三个保持健康的提示。 Đưa ra ba lời khuyên"
			ids := tk.Encode(text, true)
			if ids[0] != tt.bos {
				t.Errorf("encoding starts with %d, want BOS %d", ids[0], tt.bos)
			}
			if got := tk.Decode(ids, true); got != text {
				t.Errorf("round trip:\n got %q\nwant %q", got, text)
			}
		})
	}
	if _, _, err := Tokenizer(llama, "bert", 100); err == nil {
		t.Error("unknown layout: no error")
	}
	if _, _, err := Tokenizer([]byte(`{"model":{"type":"WordPiece"}}`), LayoutLlama, 100); err == nil {
		t.Error("not a Llama tokenizer: no error")
	}
}

// The stand-ins of a paper-like spec are in the formats crossin's loaders
// read, under the names the spec uses, and deterministic.
func TestRepos(t *testing.T) {
	spec, err := schema.Load(filepath.Join(checkout, "smoke", "testdata", "reduced.cue"))
	if err != nil {
		t.Fatal(err)
	}
	repos, err := Repos(spec, checkout)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Repos(spec, checkout)
	byID := map[string]hubserver.Repo{}
	for i, r := range repos {
		byID[r.Kind+"/"+r.ID] = r
		for p, b := range r.Files {
			if !bytes.Equal(b, again[i].Files[p]) {
				t.Errorf("%s/%s: not deterministic", r.ID, p)
			}
		}
	}
	want := []string{"datasets/SeaEval/SeaEval_datasets", "datasets/garage-bAInd/Open-Platypus", "datasets/your-org/crossin-alpaca",
		"models/google/gemma-2b", "models/meta-llama/Llama-2-7b-hf", "models/mistralai/Mistral-7B-v0.1"}
	for _, w := range want {
		r, ok := byID[w]
		if !ok {
			t.Fatalf("no stand-in %s (have %d repos)", w, len(repos))
		}
		if !bytes.Contains(r.Files["README.md"], []byte("STAND-IN")) {
			t.Errorf("%s: README.md does not say it is a stand-in", w)
		}
	}
	dir := t.TempDir()
	write := func(b []byte, name string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		return p
	}
	plat, err := dataset.Load(write(byID["datasets/garage-bAInd/Open-Platypus"].Files["data/train.parquet"], "train.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if len(plat.Records) != 300 {
		t.Errorf("Platypus stand-in: %d records, want 300", len(plat.Records))
	}
	alp := byID["datasets/your-org/crossin-alpaca"]
	n := -1
	for _, lang := range []string{"en", "zh", "vi", "es"} {
		s, err := dataset.Load(write(alp.Files["data/alpaca/alpaca_"+lang+".json"], "alpaca_"+lang+".json"))
		if err != nil {
			t.Fatalf("%s: %v", lang, err)
		}
		if n >= 0 && len(s.Records) != n {
			t.Errorf("%s: %d records, others %d: not aligned by index", lang, len(s.Records), n)
		}
		n = len(s.Records)
	}
	b, err := bench.Load(write(byID["datasets/SeaEval/SeaEval_datasets"].Files["cross_mmlu.json"], "cross_mmlu.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Questions) != 30 {
		t.Errorf("cross_mmlu stand-in: %d questions, want 30", len(b.Questions))
	}
}
