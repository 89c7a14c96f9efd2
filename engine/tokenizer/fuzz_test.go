package tokenizer

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

var (
	assetOnce sync.Once
	assetTok  *Tokenizer
	assetErr  error
)

func assetTokenizer(t testing.TB) *Tokenizer {
	t.Helper()
	assetOnce.Do(func() { assetTok, assetErr = LoadDir(assetDir) })
	if assetErr != nil {
		t.Fatal(assetErr)
	}
	return assetTok
}

// qwenIfPresent returns the Qwen3 reference tokenizer, or nil without ../shared.
func qwenIfPresent(t testing.TB) *Tokenizer {
	d, _ := filepath.Abs(filepath.Join("..", "..", "..", "shared", "reference", "tokenizers", "qwen3.tokenizer.json"))
	if _, err := os.Stat(d); err != nil {
		return nil
	}
	return refTokenizer(t, "qwen3")
}

// FuzzEncode checks that encoding never panics, that Encode and EncodeFull
// agree, that offsets stay inside the text, and that decoding gives the
// text back where the tokenizer is lossless: Llama-2 (byte fallback) for
// text without "▁" or added-token look-alikes, Qwen3 (byte-level) up to
// NFC normalisation.
func FuzzEncode(f *testing.F) {
	for _, s := range []string{"", " ", "Hello, world!", "  leading and trailing  ", "tab\tand\nnewline\r\nwindows",
		"emoji 🙂👍🏽 and flags 🇻🇳", "数字 12345 和 3.14159", "<s> </s> <unk> [en] [zh]", "e\u0301\u0301", "\xff\xfe", "<|im_start|>user\nhi<|im_end|>"} {
		f.Add(s)
	}
	llama := assetTokenizer(f)
	qwen := qwenIfPresent(f)
	f.Fuzz(func(t *testing.T, s string) {
		for _, tk := range []*Tokenizer{llama, qwen} {
			if tk == nil {
				continue
			}
			ids := tk.Encode(s, true)
			full := tk.EncodeFull(s, true)
			if !reflect.DeepEqual(ids, full.IDs) || len(full.Tokens) != len(ids) || len(full.Offsets) != len(ids) {
				t.Fatalf("%s: Encode %v vs EncodeFull %v", tk.Path(), ids, full.IDs)
			}
			for _, id := range ids {
				if id < 0 || id >= tk.VocabSize() {
					t.Fatalf("id %d out of range", id)
				}
			}
			if utf8.ValidString(s) {
				for _, o := range full.Offsets {
					if o[0] < 0 || o[1] < o[0] || o[1] > len(s) {
						t.Fatalf("offset %v outside text of %d bytes", o, len(s))
					}
				}
			}
			_ = tk.Decode(ids, true)
		}
		if !utf8.ValidString(s) {
			return
		}
		if !strings.Contains(s, "▁") && !strings.Contains(s, "<s>") && !strings.Contains(s, "</s>") && !strings.Contains(s, "<unk>") {
			if got := llama.Decode(llama.Encode(s, true), true); got != s {
				t.Fatalf("llama2 round trip: %q -> %q", s, got)
			}
		}
		if qwen != nil && !strings.Contains(s, "<") {
			if got, want := qwen.Decode(qwen.Encode(s, false), false), norm.NFC.String(s); got != want {
				t.Fatalf("qwen3 round trip: %q -> %q", s, got)
			}
		}
	})
}
