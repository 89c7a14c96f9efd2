package standin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// Layouts of the stand-in SentencePiece-BPE tokenizers.
const (
	// LayoutLlama: <unk> 0, <s> 1, </s> 2, bytes 3..258; a "▁" is
	// prepended to the text (Llama-2 and Mistral v0.1).
	LayoutLlama = "llama"
	// LayoutGemma: <pad> 0, <eos> 1, <bos> 2, <unk> 3, <start_of_turn> 4,
	// <end_of_turn> 5, bytes 6..261; no prefix space (Gemma).
	LayoutGemma = "gemma"
)

// StandInVocab is the vocabulary size of the generated stand-in tokenizers.
const StandInVocab = 8192

type bpeModel struct {
	Type                    string         `json:"type"`
	Dropout                 any            `json:"dropout"`
	UnkToken                string         `json:"unk_token"`
	ContinuingSubwordPrefix any            `json:"continuing_subword_prefix"`
	EndOfWordSuffix         any            `json:"end_of_word_suffix"`
	FuseUnk                 bool           `json:"fuse_unk"`
	ByteFallback            bool           `json:"byte_fallback"`
	Vocab                   map[string]int `json:"vocab"`
	Merges                  []string       `json:"merges"`
}

type addedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	Lstrip     bool   `json:"lstrip"`
	Rstrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// Tokenizer derives a stand-in tokenizer from a Llama-2 SentencePiece-BPE
// tokenizer.json (the one crossin ships): the same kind of tokenizer
// (SentencePiece BPE with byte fallback, in Hugging Face tokenizer.json
// format) with the special-token layout of the family, keeping the bytes,
// the single characters and the first longer pieces of the Llama-2
// vocabulary (in merge-priority order) up to vocab entries, and the
// merges among them. It returns tokenizer.json and
// tokenizer_config.json. The result is deterministic.
func Tokenizer(llama []byte, layout string, vocab int) (tok, cfg []byte, err error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(llama, &top); err != nil {
		return nil, nil, fmt.Errorf("stand-in tokenizer: %w", err)
	}
	var m bpeModel
	if err := json.Unmarshal(top["model"], &m); err != nil {
		return nil, nil, fmt.Errorf("stand-in tokenizer: model: %w", err)
	}
	if m.Type != "BPE" || !m.ByteFallback || m.Vocab["<0x00>"] != 3 || m.Vocab["<s>"] != 1 {
		return nil, nil, fmt.Errorf("stand-in tokenizer: want the Llama-2 SentencePiece BPE (byte fallback, <s> = 1, <0x00> = 3)")
	}
	pieces := make([]string, len(m.Vocab))
	for p, id := range m.Vocab {
		if id < 0 || id >= len(pieces) || pieces[id] != "" {
			return nil, nil, fmt.Errorf("stand-in tokenizer: vocabulary ids are not 0..%d", len(pieces)-1)
		}
		pieces[id] = p
	}
	var specials []string
	switch layout {
	case LayoutLlama:
		specials = []string{"<unk>", "<s>", "</s>"}
	case LayoutGemma:
		specials = []string{"<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"}
	default:
		return nil, nil, fmt.Errorf("stand-in tokenizer: unknown layout %q", layout)
	}
	out := bpeModel{Type: "BPE", UnkToken: "<unk>", FuseUnk: true, ByteFallback: true, Vocab: map[string]int{}}
	var order []string
	add := func(p string) {
		if _, dup := out.Vocab[p]; !dup && len(order) < vocab {
			out.Vocab[p] = len(order)
			order = append(order, p)
		}
	}
	for _, s := range specials {
		add(s)
	}
	// Bytes, then the base alphabet (single characters, which Llama-2
	// lists last), then the longer pieces by merge priority.
	for _, p := range pieces[3:259] {
		add(p)
	}
	for _, p := range pieces[259:] {
		if utf8.RuneCountInString(p) == 1 {
			add(p)
		}
	}
	for _, p := range pieces[259:] {
		if utf8.RuneCountInString(p) > 1 {
			add(p)
		}
	}
	for _, mg := range m.Merges {
		a, b, ok := strings.Cut(mg, " ")
		if !ok {
			continue
		}
		_, okA := out.Vocab[a]
		_, okB := out.Vocab[b]
		_, okAB := out.Vocab[a+b]
		if okA && okB && okAB {
			out.Merges = append(out.Merges, mg)
		}
	}
	var added []addedToken
	for i, s := range specials {
		added = append(added, addedToken{ID: i, Content: s, Special: true})
	}
	bos := specials[1]
	if layout == LayoutGemma {
		bos = "<bos>"
	}
	tj := map[string]any{
		"version":      "1.0",
		"truncation":   nil,
		"padding":      nil,
		"added_tokens": added,
		"model":        out,
		"post_processor": map[string]any{
			"type":   "TemplateProcessing",
			"single": []any{map[string]any{"SpecialToken": map[string]any{"id": bos, "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}},
			"pair": []any{map[string]any{"SpecialToken": map[string]any{"id": bos, "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}},
				map[string]any{"SpecialToken": map[string]any{"id": bos, "type_id": 1}}, map[string]any{"Sequence": map[string]any{"id": "B", "type_id": 1}}},
			"special_tokens": map[string]any{bos: map[string]any{"id": bos, "ids": []int{out.Vocab[bos]}, "tokens": []string{bos}}},
		},
		"pre_tokenizer": nil,
	}
	// Components as Hugging Face writes them ("type" first): some readers
	// depend on that order.
	if layout == LayoutLlama {
		tj["normalizer"] = json.RawMessage(`{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]}`)
		tj["decoder"] = json.RawMessage(`{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]}`)
	} else {
		tj["normalizer"] = json.RawMessage(`{"type":"Replace","pattern":{"String":" "},"content":"▁"}`)
		tj["decoder"] = json.RawMessage(`{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"ByteFallback"},{"type":"Fuse"}]}`)
	}
	if tok, err = marshalOrdered(tj, "version", "truncation", "padding", "added_tokens", "normalizer", "pre_tokenizer", "post_processor", "decoder", "model"); err != nil {
		return nil, nil, err
	}
	decoder := map[string]any{}
	for _, t := range added {
		decoder[fmt.Sprint(t.ID)] = map[string]any{"content": t.Content, "lstrip": false, "normalized": false, "rstrip": false, "single_word": false, "special": true}
	}
	tc := map[string]any{
		"crossin_stand_in":              "generated by crossin (smoke/standin) from the Llama-2 tokenizer crossin ships; NOT the model's real tokenizer",
		"add_bos_token":                 true,
		"add_eos_token":                 false,
		"added_tokens_decoder":          decoder,
		"clean_up_tokenization_spaces":  false,
		"model_max_length":              float64(1e30),
		"sp_model_kwargs":               map[string]any{},
		"spaces_between_special_tokens": false,
		"legacy":                        layout == LayoutLlama,
	}
	if layout == LayoutLlama {
		tc["bos_token"], tc["eos_token"], tc["unk_token"], tc["pad_token"] = "<s>", "</s>", "<unk>", nil
		tc["tokenizer_class"] = "LlamaTokenizer"
	} else {
		tc["bos_token"], tc["eos_token"], tc["unk_token"], tc["pad_token"] = "<bos>", "<eos>", "<unk>", "<pad>"
		tc["additional_special_tokens"] = []string{"<start_of_turn>", "<end_of_turn>"}
		tc["tokenizer_class"] = "GemmaTokenizer"
	}
	cfg, err = marshal(tc)
	return tok, cfg, err
}

// marshal is indented JSON with sorted keys and no HTML escaping.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// marshalOrdered writes the object m with its keys in the order given (the
// order Hugging Face writes tokenizer.json in).
func marshalOrdered(m map[string]any, keys ...string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("{\n")
	for i, k := range keys {
		v, err := marshal(m[k])
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "  %q: %s", k, bytes.TrimSpace(v))
		if i < len(keys)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("}\n")
	return b.Bytes(), nil
}
