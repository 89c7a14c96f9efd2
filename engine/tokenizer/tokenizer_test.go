package tokenizer

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// assetDir is the tokenizer shipped in the repository (hermetic).
const assetDir = "../../experiments/assets/tokenizer"

// synth builds a tokenizer.json from a vocabulary (ids are positions),
// merges and top-level/model overrides.
func synth(t testing.TB, vocab []string, merges [][2]string, top, model map[string]any) *Tokenizer {
	t.Helper()
	v := map[string]int{}
	for i, s := range vocab {
		v[s] = i
	}
	m := map[string]any{"type": "BPE", "vocab": v, "merges": merges}
	for k, x := range model {
		m[k] = x
	}
	doc := map[string]any{"version": "1.0", "model": m, "added_tokens": []any{}}
	for k, x := range top {
		doc[k] = x
	}
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := Parse("synthetic.json", data)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func added(id int, content string, flags ...string) map[string]any {
	a := map[string]any{"id": id, "content": content, "special": true, "normalized": false}
	for _, f := range flags {
		switch f {
		case "nonspecial":
			a["special"] = false
		default:
			a[f] = true
		}
	}
	return a
}

func TestAddedTokenFlags(t *testing.T) {
	vocab := []string{"<unk>", "a", "b", " ", "x", "ab"}
	tk := synth(t, vocab, [][2]string{{"a", "b"}}, map[string]any{
		"added_tokens": []any{added(100, "<mask>", "lstrip"), added(101, "<r>", "rstrip"), added(102, "xx", "single_word", "nonspecial")},
	}, map[string]any{"unk_token": "<unk>"})
	tests := []struct {
		text string
		ids  []int
		offs [][2]int
	}{
		{"a <mask> b", []int{1, 100, 3, 2}, [][2]int{{0, 1}, {1, 8}, {8, 9}, {9, 10}}},
		{"a<r>  b", []int{1, 101, 2}, [][2]int{{0, 1}, {1, 6}, {6, 7}}},
		{"axx xx", []int{1, 4, 4, 3, 102}, [][2]int{{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 6}}},
		{"ab", []int{5}, [][2]int{{0, 2}}},
		{"", []int{}, [][2]int{}},
	}
	for _, tc := range tests {
		e := tk.EncodeFull(tc.text, true)
		if !reflect.DeepEqual(e.IDs, tc.ids) || !reflect.DeepEqual(e.Offsets, tc.offs) {
			t.Errorf("%q: got %v %v, want %v %v", tc.text, e.IDs, e.Offsets, tc.ids, tc.offs)
		}
		if got := tk.Encode(tc.text, true); !reflect.DeepEqual(got, tc.ids) {
			t.Errorf("%q: Encode %v, EncodeFull %v", tc.text, got, tc.ids)
		}
	}
	if !tk.IsSpecial(100) || tk.IsSpecial(102) || tk.IsSpecial(1) {
		t.Errorf("IsSpecial wrong")
	}
	// No decoder: tokens joined with spaces, special ones skipped on request.
	if got := tk.Decode([]int{1, 100, 2, 102}, true); got != "a b xx" {
		t.Errorf("Decode skip = %q", got)
	}
	if got := tk.Decode([]int{1, 100, 2, 999}, false); got != "a <mask> b" {
		t.Errorf("Decode = %q", got)
	}
	if n := tk.VocabSize(); n != 103 {
		t.Errorf("VocabSize = %d, want 103", n)
	}
}

func TestNormalizedAddedTokens(t *testing.T) {
	vocab := []string{"<unk>", "h", "i", " ", "<", "s", ">"}
	tk := synth(t, vocab, nil, map[string]any{
		"normalizer": map[string]any{"type": "Lowercase"},
		"added_tokens": []any{
			map[string]any{"id": 100, "content": "hi", "normalized": true, "special": false},
			added(101, "<S>"),
		},
	}, nil)
	// "<S>" is matched on the raw text; "HI" only after lowercasing.
	if got, want := tk.Encode("HI <S><s>", false), []int{100, 3, 101, 4, 5, 6}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v want %v", got, want)
	}
}

func TestUnkAndModelOptions(t *testing.T) {
	tests := []struct {
		name   string
		vocab  []string
		merges [][2]string
		model  map[string]any
		text   string
		ids    []int
	}{
		{"fuse_unk", []string{"<unk>", "a", "b"}, nil, map[string]any{"unk_token": "<unk>", "fuse_unk": true}, "a??b", []int{1, 0, 2}},
		{"no_fuse_unk", []string{"<unk>", "a", "b"}, nil, map[string]any{"unk_token": "<unk>"}, "a??b", []int{1, 0, 0, 2}},
		{"no_unk_drops", []string{"<unk>", "a", "b"}, nil, nil, "a?b", []int{1, 2}},
		{"subword_prefix", []string{"a", "##b", "ab", "##c"}, [][2]string{{"a", "##b"}}, map[string]any{"continuing_subword_prefix": "##"}, "abc", []int{2, 3}},
		{"ignore_merges", []string{"a", "b", "c", "abc"}, nil, map[string]any{"ignore_merges": true}, "abc", []int{3}},
		{"merges_only", []string{"a", "b", "c", "abc"}, nil, nil, "abc", []int{0, 1, 2}},
		{"rank_order", []string{"a", "b", "c", "ab", "bc"}, [][2]string{{"b", "c"}, {"a", "b"}}, nil, "abc", []int{0, 4}},
		{"ties_left", []string{"a", "aa"}, [][2]string{{"a", "a"}}, nil, "aaa", []int{1, 0}},
		{"byte_fallback", []string{"<unk>", "a", "<0xC3>", "<0xA9>"}, nil, map[string]any{"unk_token": "<unk>", "byte_fallback": true}, "aéz", []int{1, 2, 3, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk := synth(t, tc.vocab, tc.merges, nil, tc.model)
			if got := tk.Encode(tc.text, false); !reflect.DeepEqual(got, tc.ids) {
				t.Errorf("got %v want %v", got, tc.ids)
			}
		})
	}
}

// byteVocab is a byte-level vocabulary whose first 256 ids are the bytes.
func byteVocab(extra ...string) []string {
	v := make([]string, 0, 256+len(extra))
	for b := 0; b < 256; b++ {
		v = append(v, byteCharStr[b])
	}
	return append(v, extra...)
}

func TestGPT2ByteLevel(t *testing.T) {
	tk := synth(t, byteVocab("Ġt", "he", "Ġthe"), [][2]string{{"Ġ", "t"}, {"h", "e"}, {"Ġt", "he"}}, map[string]any{
		"pre_tokenizer":  map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
		"post_processor": map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true},
		"decoder":        map[string]any{"type": "ByteLevel"},
	}, nil)
	e := tk.EncodeFull("the cat's", true)
	if want := []int{258, ' ', 'c', 'a', 't', '\'', 's'}; !reflect.DeepEqual(e.IDs, want) {
		t.Fatalf("ids %v want %v", e.IDs, want)
	}
	// The added prefix space is aligned with "t"; trim_offsets keeps it on
	// the first token and trims the lone space token to an empty span.
	if want := [][2]int{{0, 3}, {4, 4}, {4, 5}, {5, 6}, {6, 7}, {7, 8}, {8, 9}}; !reflect.DeepEqual(e.Offsets, want) {
		t.Errorf("offsets %v want %v", e.Offsets, want)
	}
	if got := tk.Decode(e.IDs, false); got != " the cat's" {
		t.Errorf("decode %q", got)
	}
	// Lossy UTF-8 like Rust: a truncated 4-byte sequence is one U+FFFD.
	if got := tk.Decode([]int{0xF0, 0x9F, 'A', 0xFF, 0xFE}, false); got != "\uFFFDA\uFFFD\uFFFD" {
		t.Errorf("lossy decode %q", got)
	}
}

func TestMetaspace(t *testing.T) {
	tk := synth(t, []string{"▁a", "▁b", "▁", "a", "b"}, [][2]string{{"▁", "a"}, {"▁", "b"}}, map[string]any{
		"pre_tokenizer": map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true},
		"decoder":       map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true},
	}, nil)
	if got := tk.Encode("a b", false); !reflect.DeepEqual(got, []int{0, 1}) {
		t.Errorf("got %v", got)
	}
	if got := tk.Decode([]int{0, 1}, false); got != "a b" {
		t.Errorf("decode %q", got)
	}
}

// TestMetaspaceFirstMatchesPrepend rewrites the shipped Llama tokenizer to
// the newer Mistral layout (no normalizer, Metaspace prepend_scheme
// "first", split false). Without added tokens in the text both layouts
// tokenize identically; after an added token, "first" adds no ▁.
func TestMetaspaceFirstMatchesPrepend(t *testing.T) {
	orig, err := LoadDir(assetDir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(assetDir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	doc["normalizer"] = nil
	doc["pre_tokenizer"] = map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false}
	data, _ = json.Marshal(doc)
	ms, err := Parse("mistral-style", data)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Hello, world!", "trailing  ", "数字 12345 和 3.14159", "tab\tand\nnewline\r\nwindows", ""} {
		if a, b := orig.Encode(s, true), ms.Encode(s, true); !reflect.DeepEqual(a, b) {
			t.Errorf("%q: prepend layout %v, metaspace layout %v", s, a, b)
		}
	}
	// Metaspace does not prepend to text that already starts with a space.
	if got, want := ms.Encode("  leading", false), []int{28705, 5374}; !reflect.DeepEqual(got, want) {
		t.Errorf("leading spaces: got %v want %v", got, want)
	}
	// "<s> </s>": the piece " " after <s> becomes "▁" (28705), not "▁▁" (259).
	if got, want := ms.Encode("<s> </s>", false), []int{1, 28705, 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("first scheme: got %v want %v", got, want)
	}
	if got, want := orig.Encode("<s> </s>", false), []int{1, 259, 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("prepend normalizer: got %v want %v", got, want)
	}
}

func TestShippedAsset(t *testing.T) {
	tk, err := LoadDir(assetDir)
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := tk.BOS(); !ok || id != 1 {
		t.Errorf("BOS = %d %v", id, ok)
	}
	if id, ok := tk.EOS(); !ok || id != 2 {
		t.Errorf("EOS = %d %v", id, ok)
	}
	if n := tk.VocabSize(); n != 32000 {
		t.Errorf("VocabSize = %d", n)
	}
	if c := tk.Config(); !c.Found || c.BOSToken != "<s>" || c.EOSToken != "</s>" || c.AddBOSToken == nil || !*c.AddBOSToken {
		t.Errorf("config %+v", c)
	}
	// Values from Hugging Face tokenizers (golden.json).
	if got, want := tk.Encode("Hello, world!", true), []int{1, 22557, 28725, 1526, 28808}; !reflect.DeepEqual(got, want) {
		t.Errorf("Encode = %v", got)
	}
	if id, ok := tk.TokenToID("▁Hello"); !ok || id != 22557 {
		t.Errorf("TokenToID = %d %v", id, ok)
	}
	if s, ok := tk.IDToToken(28705); !ok || s != "▁" {
		t.Errorf("IDToToken = %q %v", s, ok)
	}
	if _, ok := tk.IDToToken(32000); ok {
		t.Errorf("IDToToken(32000) should not exist")
	}
	// Decoder chain Replace, ByteFallback, Fuse, Strip.
	if got := tk.Decode([]int{1, 22557}, false); got != "<s> Hello" {
		t.Errorf("Decode = %q", got)
	}
	if got := tk.Decode([]int{1, 22557}, true); got != "Hello" {
		t.Errorf("Decode skip = %q", got)
	}
	if got := tk.Decode([]int{243, 162, 28708}, false); got != "\uFFFD\uFFFDa" {
		t.Errorf("invalid byte fallback = %q", got)
	}
	if tk.ChatTemplate() != "" {
		t.Errorf("llama2 config has no chat template")
	}
}

func TestTemplateBOSEOSWithoutConfig(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(assetDir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	json.Unmarshal(data, &doc)
	doc["post_processor"] = map[string]any{
		"type":   "TemplateProcessing",
		"single": []any{map[string]any{"SpecialToken": map[string]any{"id": "<s>", "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}, map[string]any{"SpecialToken": map[string]any{"id": "</s>", "type_id": 0}}},
		"special_tokens": map[string]any{
			"<s>":  map[string]any{"id": "<s>", "ids": []int{1}, "tokens": []string{"<s>"}},
			"</s>": map[string]any{"id": "</s>", "ids": []int{2}, "tokens": []string{"</s>"}},
		},
	}
	data, _ = json.Marshal(doc)
	tk, err := Parse("bos-eos", data)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tk.Encode("Hello", true), []int{1, 22557, 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v", got)
	}
	e := tk.EncodeFull("Hello", true)
	if want := [][2]int{{0, 0}, {0, 5}, {0, 0}}; !reflect.DeepEqual(e.Offsets, want) {
		t.Errorf("offsets %v", e.Offsets)
	}
	if b, ok := tk.BOS(); !ok || b != 1 {
		t.Errorf("BOS %d %v", b, ok)
	}
	if e, ok := tk.EOS(); !ok || e != 2 {
		t.Errorf("EOS %d %v", e, ok)
	}
}

func TestEncodeBatchMatchesEncode(t *testing.T) {
	tk, err := LoadDir(assetDir)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for i := range 200 {
		texts = append(texts, strings.Repeat("word ", i%7)+"Xin chào thế giới "+string(rune('a'+i%26))+" 数字 "+strings.Repeat("!", i%3))
	}
	got := tk.EncodeBatch(texts, true)
	for i, s := range texts {
		if want := tk.Encode(s, true); !reflect.DeepEqual(got[i], want) {
			t.Fatalf("text %d: batch %v, single %v", i, got[i], want)
		}
	}
}

func TestUnsupportedAndMalformed(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(assetDir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(doc map[string]any)) string {
		var doc map[string]any
		json.Unmarshal(good, &doc)
		f(doc)
		b, _ := json.Marshal(doc)
		return string(b)
	}
	tests := []struct {
		name, data, want string
		unsupported      bool
	}{
		{"wordpiece", `{"model":{"type":"WordPiece","vocab":{"a":0},"unk_token":"a","continuing_subword_prefix":"##","max_input_chars_per_word":100}}`, `unsupported model type "WordPiece"`, true},
		{"unigram", `{"model":{"type":"Unigram","vocab":[["a",0.0]],"unk_id":0}}`, `unsupported model type "Unigram"`, true},
		{"untyped_wordpiece", `{"model":{"vocab":{"a":0},"max_input_chars_per_word":100}}`, `unsupported model type "WordPiece"`, true},
		{"pre_tokenizer", edit(func(d map[string]any) { d["pre_tokenizer"] = map[string]any{"type": "BertPreTokenizer"} }), `unsupported pre_tokenizer type "BertPreTokenizer"`, true},
		{"nested_pre", edit(func(d map[string]any) {
			d["pre_tokenizer"] = map[string]any{"type": "Sequence", "pretokenizers": []any{map[string]any{"type": "UnicodeScripts"}}}
		}), `unsupported pre_tokenizer type "UnicodeScripts"`, true},
		{"normalizer", edit(func(d map[string]any) {
			d["normalizer"] = map[string]any{"type": "Precompiled", "precompiled_charsmap": "AA=="}
		}), `unsupported normalizer type "Precompiled"`, true},
		{"decoder", edit(func(d map[string]any) { d["decoder"] = map[string]any{"type": "CTC"} }), `unsupported decoder type "CTC"`, true},
		{"post", edit(func(d map[string]any) { d["post_processor"] = map[string]any{"type": "Fancy"} }), `unsupported post_processor type "Fancy"`, true},
		{"dropout", edit(func(d map[string]any) { d["model"].(map[string]any)["dropout"] = 0.1 }), `dropout`, true},
		{"syntax", "{\n  \"model\": {\n    \"type\": \"BPE\",,\n", `x.json:3:`, false},
		{"truncated", string(good[:len(good)/2]), `x.json`, false},
		{"empty", "", `x.json`, false},
		{"no_model", `{"added_tokens":[]}`, `missing "model"`, false},
		{"bad_merge", `{"model":{"type":"BPE","vocab":{"a":0,"b":1},"merges":["a b"]}}`, `merged token "ab" is not in the vocabulary`, false},
		{"merge_oov", `{"model":{"type":"BPE","vocab":{"a":0},"merges":["a q"]}}`, `model.merges[0]`, false},
		{"bad_unk", `{"model":{"type":"BPE","vocab":{"a":0},"merges":[],"unk_token":"<unk>"}}`, `unk_token "<unk>" is not in the vocabulary`, false},
		{"bad_regex", edit(func(d map[string]any) {
			d["pre_tokenizer"] = map[string]any{"type": "Split", "pattern": map[string]any{"Regex": "(a"}, "behavior": "Isolated"}
		}), `cannot compile regex`, false},
		{"bad_behavior", edit(func(d map[string]any) {
			d["pre_tokenizer"] = map[string]any{"type": "Split", "pattern": map[string]any{"String": " "}, "behavior": "Sideways"}
		}), `unknown behavior "Sideways"`, false},
		{"template_missing", edit(func(d map[string]any) {
			d["post_processor"] = map[string]any{"type": "TemplateProcessing", "single": []any{map[string]any{"SpecialToken": map[string]any{"id": "<bos>"}}}, "special_tokens": map[string]any{}}
		}), `special token "<bos>" is not in special_tokens`, false},
		{"wrong_type", `{"model":{"type":"BPE","vocab":[1,2],"merges":[]}}`, `model.vocab`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.json", []byte(tc.data))
			if err == nil {
				t.Fatalf("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			var ue *UnsupportedError
			if errors.As(err, &ue) != tc.unsupported {
				t.Errorf("UnsupportedError = %v, want %v (%v)", !tc.unsupported, tc.unsupported, err)
			}
		})
	}
	if _, err := Load("/nonexistent/tokenizer.json"); err == nil || !strings.Contains(err.Error(), "/nonexistent/tokenizer.json") {
		t.Errorf("missing file error %v", err)
	}
}

func TestRuneOffsets(t *testing.T) {
	text := "a数b"
	got := RuneOffsets(text, [][2]int{{0, 1}, {1, 4}, {4, 5}, {0, 0}, {1, 2}})
	want := [][2]int{{0, 1}, {1, 2}, {2, 3}, {0, 0}, {1, 2}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v want %v", got, want)
	}
}

func TestSimplePreTokenizers(t *testing.T) {
	vocab := []string{"a", "b", "1", "2", "!", " ", "²"}
	tests := []struct {
		name string
		pre  map[string]any
		text string
		ids  []int
	}{
		// Each split is one word; merges "a b" and "1 2" join within words only.
		{"whitespace", map[string]any{"type": "Whitespace"}, "ab! ab²", []int{7, 4, 7, 6}},
		{"whitespace_split", map[string]any{"type": "WhitespaceSplit"}, "ab!  12", []int{7, 4, 8}},
		{"digits_individual", map[string]any{"type": "Digits", "individual_digits": true}, "a12", []int{0, 2, 3}},
		{"digits_runs", map[string]any{"type": "Digits", "individual_digits": false}, "a12b", []int{0, 8, 1}},
		{"punctuation", map[string]any{"type": "Punctuation"}, "a!b", []int{0, 4, 1}},
		{"split_removed", map[string]any{"type": "Split", "pattern": map[string]any{"String": "!"}, "behavior": "Removed"}, "ab!ab", []int{7, 7}},
		{"split_merged_prev", map[string]any{"type": "Split", "pattern": map[string]any{"String": "b"}, "behavior": "MergedWithPrevious"}, "abab", []int{7, 7}},
		{"split_merged_next", map[string]any{"type": "Split", "pattern": map[string]any{"String": "a"}, "behavior": "MergedWithNext"}, "abab", []int{7, 7}},
		{"split_isolated", map[string]any{"type": "Split", "pattern": map[string]any{"String": "b"}, "behavior": "Isolated"}, "abab", []int{0, 1, 0, 1}},
		{"split_contiguous", map[string]any{"type": "Split", "pattern": map[string]any{"Regex": "[ab]"}, "behavior": "Contiguous"}, "ab12", []int{7, 8}},
		{"split_invert", map[string]any{"type": "Split", "pattern": map[string]any{"Regex": "\\d+"}, "behavior": "Removed", "invert": true}, "a12b", []int{8}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk := synth(t, append(vocab, "ab", "12"), [][2]string{{"a", "b"}, {"1", "2"}}, map[string]any{"pre_tokenizer": tc.pre}, nil)
			if got := tk.Encode(tc.text, false); !reflect.DeepEqual(got, tc.ids) {
				t.Errorf("got %v want %v", got, tc.ids)
			}
		})
	}
}
