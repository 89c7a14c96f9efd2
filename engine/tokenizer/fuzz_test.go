package tokenizer

import (
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/crossin-lab/crossin/internal/sharedtest"
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

// qwenIfPresent returns the Qwen3 reference tokenizer, or nil without
// ../shared (the fuzz test then runs on Llama-2 alone), except under
// CROSSIN_REQUIRE_SHARED=1 where its absence fails the test.
func qwenIfPresent(t testing.TB) *Tokenizer {
	t.Helper()
	if _, err := sharedtest.Lookup("reference/tokenizers/qwen3.tokenizer.json"); err != nil {
		if sharedtest.Required() {
			t.Fatal(err)
		}
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

// FuzzParse checks that no tokenizer.json, however broken, makes loading or
// then encoding and decoding panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}`))
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":[["a","b"]],"byte_fallback":true,"unk_token":"a"},` +
		`"added_tokens":[{"id":5,"content":"<x>","lstrip":true,"rstrip":true,"single_word":true}],` +
		`"normalizer":{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]},` +
		`"pre_tokenizer":{"type":"Metaspace","prepend_scheme":"first"},` +
		`"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<x>"}},{"Sequence":{"id":"A"}}],"special_tokens":{"<x>":{"id":"<x>","ids":[5],"tokens":["<x>"]}}},` +
		`"decoder":{"type":"Sequence","decoders":[{"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":3,"stop":9}]}}`))
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"pre_tokenizer":{"type":"Split","pattern":{"Regex":"\\s+"},"behavior":"MergedWithNext","invert":true},"decoder":{"type":"ByteLevel"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tk, err := Parse("fuzz.json", data)
		if err != nil {
			return
		}
		for _, s := range []string{"", "a b <x> ab", "  ▁a\n", "\xff"} {
			ids := tk.Encode(s, true)
			tk.EncodeFull(s, true)
			tk.Decode(ids, false)
			tk.Decode([]int{-1, 0, 1, 1 << 30}, true)
		}
	})
}
