package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/crossin-lab/crossin/internal/sharedtest"
)

// sharedDir is the team's data beside the repository (../shared); without
// its Hugging Face golden outputs the test skips (fails under
// CROSSIN_REQUIRE_SHARED=1).
func sharedDir(t testing.TB) string {
	t.Helper()
	sharedtest.Path(t, "reference/tokenizers/golden.json")
	return sharedtest.Path(t, "")
}

type goldenRow struct {
	Lang         string   `json:"lang"`
	Source       string   `json:"source"`
	Text         string   `json:"text"`
	IDs          []int    `json:"ids"`
	IDsNoSpecial []int    `json:"ids_no_special"`
	Tokens       []string `json:"tokens"`
	Offsets      [][2]int `json:"offsets"`
	Decoded      string   `json:"decoded"`
}

var (
	refOnce sync.Once
	refToks map[string]*Tokenizer
	refErr  error
)

// refTokenizer loads a reference tokenizer once per test binary (the Qwen
// file is 11 MB).
func refTokenizer(t testing.TB, name string) *Tokenizer {
	t.Helper()
	dir := filepath.Join(sharedDir(t), "reference", "tokenizers")
	refOnce.Do(func() {
		refToks = map[string]*Tokenizer{}
		for _, n := range []string{"llama2", "qwen3"} {
			tk, err := Load(filepath.Join(dir, n+".tokenizer.json"))
			if err != nil {
				refErr = err
				return
			}
			refToks[n] = tk
		}
	})
	if refErr != nil {
		t.Fatal(refErr)
	}
	return refToks[name]
}

func loadGolden(t testing.TB) map[string][]goldenRow {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(sharedDir(t), "reference", "tokenizers", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g map[string][]goldenRow
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// TestGolden compares ids (with and without special tokens), tokens,
// offsets and decoded text with Hugging Face tokenizers 0.23.2 on every
// reference string, for both tokenizers.
func TestGolden(t *testing.T) {
	g := loadGolden(t)
	for _, name := range []string{"llama2", "qwen3"} {
		tk := refTokenizer(t, name)
		rows := g[name]
		if len(rows) == 0 {
			t.Fatalf("golden.json has no rows for %s", name)
		}
		for i, r := range rows {
			t.Run(name+"/"+r.Source+"_"+r.Lang+"_"+itoa(i), func(t *testing.T) {
				if got := tk.Encode(r.Text, true); !reflect.DeepEqual(got, r.IDs) {
					t.Errorf("Encode(addSpecial=true)\n got %v\nwant %v", got, r.IDs)
				}
				if got := tk.Encode(r.Text, false); !reflect.DeepEqual(got, r.IDsNoSpecial) {
					t.Errorf("Encode(addSpecial=false)\n got %v\nwant %v", got, r.IDsNoSpecial)
				}
				full := tk.EncodeFull(r.Text, false)
				if !reflect.DeepEqual(full.IDs, r.IDsNoSpecial) {
					t.Errorf("EncodeFull ids differ from Encode")
				}
				if !reflect.DeepEqual(full.Tokens, r.Tokens) {
					t.Errorf("tokens\n got %q\nwant %q", full.Tokens, r.Tokens)
				}
				if got := RuneOffsets(r.Text, full.Offsets); !reflect.DeepEqual(got, r.Offsets) {
					t.Errorf("offsets\n got %v\nwant %v", got, r.Offsets)
				}
				if got := tk.Decode(r.IDsNoSpecial, true); got != r.Decoded {
					t.Errorf("Decode\n got %q\nwant %q", got, r.Decoded)
				}
			})
		}
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// TestQwenConfig checks what tokenizer_config.json contributes for Qwen3:
// no BOS, EOS <|im_end|>, the chat template, and the added tokens' ids.
func TestQwenConfig(t *testing.T) {
	tk := refTokenizer(t, "qwen3")
	if _, ok := tk.BOS(); ok {
		t.Errorf("Qwen3 has no BOS token")
	}
	if id, ok := tk.EOS(); !ok || id != 151645 {
		t.Errorf("EOS = %d %v, want 151645 (<|im_end|>)", id, ok)
	}
	if n := tk.VocabSize(); n != 151669 {
		t.Errorf("VocabSize = %d, want 151669", n)
	}
	if c := tk.Config(); c.PadToken != "<|endoftext|>" || !strings.Contains(c.ChatTemplate, "<|im_start|>") {
		t.Errorf("config pad %q, template %d bytes", c.PadToken, len(c.ChatTemplate))
	}
	if id, ok := tk.TokenToID("<think>"); !ok || id != 151667 {
		t.Errorf("<think> = %d %v", id, ok)
	}
	// Added tokens are matched in text with or without special tokens, and
	// <tool_call> is not special, so skipSpecial keeps it.
	ids := tk.Encode("<|im_start|>user\n<tool_call>hi<|im_end|>", false)
	if ids[0] != 151644 || ids[len(ids)-1] != 151645 {
		t.Errorf("ids %v", ids)
	}
	if got := tk.Decode(ids, true); got != "user\n<tool_call>hi" {
		t.Errorf("Decode skip = %q", got)
	}
	if got := tk.Decode(ids, false); got != "<|im_start|>user\n<tool_call>hi<|im_end|>" {
		t.Errorf("Decode = %q", got)
	}
	// Concurrent batch encoding equals sequential encoding.
	g := loadGolden(t)
	var texts []string
	for range 8 {
		for _, r := range g["qwen3"] {
			texts = append(texts, r.Text)
		}
	}
	batch := tk.EncodeBatch(texts, true)
	for i, s := range texts {
		if !reflect.DeepEqual(batch[i], tk.Encode(s, true)) {
			t.Fatalf("batch differs at %d", i)
		}
	}
}

// TestFastPathsSelected makes sure the reference tokenizers take the
// shortcuts the benchmarks measure (they are checked for exactness by
// TestGolden, FuzzEncode and FuzzFastSplitters).
func TestFastPathsSelected(t *testing.T) {
	if tk := refTokenizer(t, "qwen3"); tk.fastWords == nil || tk.rawCache == nil {
		t.Errorf("qwen3: hand-written regex + raw word cache not selected")
	}
	if tk := refTokenizer(t, "llama2"); !tk.spSplit {
		t.Errorf("llama2: cutting before ▁ not selected")
	}
}
