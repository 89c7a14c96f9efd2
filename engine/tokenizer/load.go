package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode"

	"github.com/dlclark/regexp2"
	"golang.org/x/text/unicode/norm"
)

// UnsupportedError says which part of a tokenizer.json this package cannot
// run (a WordPiece model, a BertNormalizer, ...). Loading fails with it
// rather than tokenizing differently from Hugging Face.
type UnsupportedError struct {
	Path      string // the tokenizer.json
	Component string // "model", "normalizer", "pre_tokenizer", "post_processor", "decoder"
	Type      string // the "type" found there
	Detail    string // what would be needed, or which field
}

func (e *UnsupportedError) Error() string {
	msg := fmt.Sprintf("%s: unsupported %s type %q", e.Path, e.Component, e.Type)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// rawFile is the top level of tokenizer.json.
type rawFile struct {
	AddedTokens   []AddedToken    `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         *rawModel       `json:"model"`
}

type rawModel struct {
	Type                    string           `json:"type"`
	Vocab                   vocabField       `json:"vocab"`
	Merges                  *mergesField     `json:"merges"`
	UnkToken                *string          `json:"unk_token"`
	ContinuingSubwordPrefix *string          `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string          `json:"end_of_word_suffix"`
	FuseUnk                 bool             `json:"fuse_unk"`
	ByteFallback            bool             `json:"byte_fallback"`
	IgnoreMerges            bool             `json:"ignore_merges"`
	Dropout                 *float64         `json:"dropout"`
	MaxInputCharsPerWord    *json.RawMessage `json:"max_input_chars_per_word"`
}

type rawPattern struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

// component is any normalizer/pre-tokenizer/decoder/post-processor object.
type component struct {
	Type string `json:"type"`
	// Sequence members
	Normalizers   []json.RawMessage `json:"normalizers"`
	Pretokenizers []json.RawMessage `json:"pretokenizers"`
	Decoders      []json.RawMessage `json:"decoders"`
	Processors    []json.RawMessage `json:"processors"`
	// Replace / Split
	Pattern  *rawPattern `json:"pattern"`
	Content  *string     `json:"content"`
	Behavior string      `json:"behavior"`
	Invert   bool        `json:"invert"`
	// Prepend
	Prepend *string `json:"prepend"`
	// Strip (normalizer: strip_left/strip_right; decoder: content/start/stop)
	StripLeft  *bool `json:"strip_left"`
	StripRight *bool `json:"strip_right"`
	Start      int   `json:"start"`
	Stop       int   `json:"stop"`
	// ByteLevel
	AddPrefixSpace *bool `json:"add_prefix_space"`
	TrimOffsets    *bool `json:"trim_offsets"`
	UseRegex       *bool `json:"use_regex"`
	// Metaspace
	Replacement   *string `json:"replacement"`
	PrependScheme *string `json:"prepend_scheme"`
	Split         *bool   `json:"split"`
	// Digits
	IndividualDigits bool `json:"individual_digits"`
	// BPEDecoder
	Suffix *string `json:"suffix"`
	// TemplateProcessing
	Single        []map[string]struct{ ID string } `json:"single"`
	SpecialTokens map[string]struct {
		ID     string   `json:"id"`
		IDs    []int    `json:"ids"`
		Tokens []string `json:"tokens"`
	} `json:"special_tokens"`
	// Bert/RobertaProcessing
	Sep []json.RawMessage `json:"sep"`
	Cls []json.RawMessage `json:"cls"`
}

func isNull(m json.RawMessage) bool {
	t := bytes.TrimSpace(m)
	return len(t) == 0 || string(t) == "null"
}

type loader struct{ path string }

func (l loader) unsupported(comp, typ, detail string) error {
	return &UnsupportedError{Path: l.path, Component: comp, Type: typ, Detail: detail}
}

func (l loader) badf(format string, args ...any) error {
	return fmt.Errorf("%s: %s", l.path, fmt.Sprintf(format, args...))
}

func (l loader) parse(m json.RawMessage, what string) (component, error) {
	var c component
	if err := json.Unmarshal(m, &c); err != nil {
		return c, l.badf("%s: %v", what, err)
	}
	return c, nil
}

// compileRegex compiles a tokenizer.json (Oniguruma) regex with regexp2,
// whose .NET-style syntax covers what these files use (lookahead, \p{L},
// scoped (?i:...)).
func (l loader) compileRegex(p, what string) (*regexp2.Regexp, error) {
	re, err := regexp2.Compile(p, regexp2.None)
	if err != nil {
		return nil, l.badf("%s: cannot compile regex %q: %v", what, p, err)
	}
	return re, nil
}

func (l loader) normalizer(m json.RawMessage) (normalizer, error) {
	c, err := l.parse(m, "normalizer")
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case "Sequence":
		var s normSeq
		for _, x := range c.Normalizers {
			n, err := l.normalizer(x)
			if err != nil {
				return nil, err
			}
			s = append(s, n)
		}
		return s, nil
	case "NFC":
		return unicodeNorm{norm.NFC}, nil
	case "NFD":
		return unicodeNorm{norm.NFD}, nil
	case "NFKC":
		return unicodeNorm{norm.NFKC}, nil
	case "NFKD":
		return unicodeNorm{norm.NFKD}, nil
	case "Lowercase":
		return lowercaseNorm{}, nil
	case "StripAccents":
		return stripAccentsNorm{}, nil
	case "Strip":
		return stripNorm{left: c.StripLeft == nil || *c.StripLeft, right: c.StripRight == nil || *c.StripRight}, nil
	case "Prepend":
		if c.Prepend == nil {
			return nil, l.badf("normalizer Prepend: missing field \"prepend\"")
		}
		return prependNorm{*c.Prepend}, nil
	case "Replace":
		r := replaceNorm{}
		if c.Content != nil {
			r.content = *c.Content
		}
		if err := l.pattern(c.Pattern, "normalizer Replace", &r.lit, &r.re); err != nil {
			return nil, err
		}
		return r, nil
	case "ByteLevel":
		return byteLevelNorm{}, nil
	default:
		return nil, l.unsupported("normalizer", c.Type, "supported: Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Prepend, Replace, ByteLevel")
	}
}

func (l loader) pattern(p *rawPattern, what string, lit *string, re **regexp2.Regexp) error {
	switch {
	case p == nil:
		return l.badf("%s: missing field \"pattern\"", what)
	case p.String != nil:
		*lit = *p.String
	case p.Regex != nil:
		r, err := l.compileRegex(*p.Regex, what)
		if err != nil {
			return err
		}
		*re = r
	default:
		return l.badf("%s: pattern must have \"String\" or \"Regex\"", what)
	}
	return nil
}

// maxVocabID bounds token ids (vocabularies in use have at most a few
// hundred thousand), so that a corrupt id cannot make loading allocate
// gigabytes for the id -> token tables.
const maxVocabID = 1 << 24

// gpt2Pattern is the regex of the ByteLevel pre-tokenizer with use_regex.
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

func (l loader) pretokenizer(m json.RawMessage) (pretokenizer, error) {
	c, err := l.parse(m, "pre_tokenizer")
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case "Sequence":
		var s preSeq
		for _, x := range c.Pretokenizers {
			p, err := l.pretokenizer(x)
			if err != nil {
				return nil, err
			}
			s = append(s, p)
		}
		return s, nil
	case "Split":
		b, ok := behaviors[c.Behavior]
		if !ok {
			return nil, l.badf("pre_tokenizer Split: unknown behavior %q (want Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous)", c.Behavior)
		}
		p := &splitPre{b: b, invert: c.Invert}
		if err := l.pattern(c.Pattern, "pre_tokenizer Split", &p.lit, &p.re); err != nil {
			return nil, err
		}
		if p.re != nil {
			p.fast = fastSplitter(c.Pattern.Regex)
		}
		return p, nil
	case "ByteLevel":
		p := byteLevelPre{prefixSpace: c.AddPrefixSpace == nil || *c.AddPrefixSpace}
		if c.UseRegex == nil || *c.UseRegex {
			re, err := l.compileRegex(gpt2Pattern, "pre_tokenizer ByteLevel")
			if err != nil {
				return nil, err
			}
			pat := gpt2Pattern
			p.regex = &splitPre{re: re, b: bIsolated, fast: fastSplitter(&pat)}
		}
		return p, nil
	case "Metaspace":
		p := metaspacePre{repl: "▁", scheme: prependAlways, split_: c.Split == nil || *c.Split}
		if c.Replacement != nil {
			p.repl = *c.Replacement
		}
		s, err := l.scheme(c)
		if err != nil {
			return nil, err
		}
		p.scheme = s
		return p, nil
	case "Whitespace":
		return whitespacePre{}, nil
	case "WhitespaceSplit":
		return funcPre{is: unicode.IsSpace, b: bRemoved}, nil
	case "Digits":
		if c.IndividualDigits {
			return funcPre{is: isNumeric, b: bIsolated}, nil
		}
		return funcPre{is: isNumeric, b: bContiguous}, nil
	case "Punctuation":
		b := bIsolated
		if c.Behavior != "" {
			var ok bool
			if b, ok = behaviors[c.Behavior]; !ok {
				return nil, l.badf("pre_tokenizer Punctuation: unknown behavior %q", c.Behavior)
			}
		}
		return funcPre{is: isPunct, b: b}, nil
	default:
		return nil, l.unsupported("pre_tokenizer", c.Type, "supported: Sequence, Split, ByteLevel, Metaspace, Whitespace, WhitespaceSplit, Digits, Punctuation")
	}
}

func (l loader) scheme(c component) (prependScheme, error) {
	if c.PrependScheme != nil {
		switch strings.ToLower(*c.PrependScheme) {
		case "always":
			return prependAlways, nil
		case "first":
			return prependFirst, nil
		case "never":
			return prependNever, nil
		default:
			return 0, l.badf("Metaspace: unknown prepend_scheme %q (want always, first or never)", *c.PrependScheme)
		}
	}
	if c.AddPrefixSpace != nil && !*c.AddPrefixSpace {
		return prependNever, nil
	}
	return prependAlways, nil
}

func (l loader) decoder(m json.RawMessage) (decoder, error) {
	c, err := l.parse(m, "decoder")
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case "Sequence":
		var s decSeq
		for _, x := range c.Decoders {
			d, err := l.decoder(x)
			if err != nil {
				return nil, err
			}
			s = append(s, d)
		}
		return s, nil
	case "Replace":
		d := replaceDec{}
		if c.Content != nil {
			d.content = *c.Content
		}
		if err := l.pattern(c.Pattern, "decoder Replace", &d.lit, &d.re); err != nil {
			return nil, err
		}
		return d, nil
	case "ByteFallback":
		return byteFallbackDec{}, nil
	case "Fuse":
		return fuseDec{}, nil
	case "Strip":
		d := stripDec{content: ' ', start: c.Start, stop: c.Stop}
		if c.Content != nil {
			rs := []rune(*c.Content)
			if len(rs) != 1 {
				return nil, l.badf("decoder Strip: content must be one character, got %q", *c.Content)
			}
			d.content = rs[0]
		}
		return d, nil
	case "ByteLevel":
		return byteLevelDec{}, nil
	case "Metaspace":
		d := metaspaceDec{repl: '▁'}
		if c.Replacement != nil {
			rs := []rune(*c.Replacement)
			if len(rs) != 1 {
				return nil, l.badf("decoder Metaspace: replacement must be one character, got %q", *c.Replacement)
			}
			d.repl = rs[0]
		}
		s, err := l.scheme(c)
		if err != nil {
			return nil, err
		}
		d.scheme = s
		return d, nil
	case "BPEDecoder":
		d := bpeDec{suffix: "</w>"}
		if c.Suffix != nil {
			d.suffix = *c.Suffix
		}
		return d, nil
	default:
		return nil, l.unsupported("decoder", c.Type, "supported: Sequence, Replace, ByteFallback, Fuse, Strip, ByteLevel, Metaspace, BPEDecoder")
	}
}

func (l loader) postProcessor(m json.RawMessage, t *Tokenizer) (postProcessor, error) {
	c, err := l.parse(m, "post_processor")
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case "Sequence":
		var s postSeq
		for _, x := range c.Processors {
			p, err := l.postProcessor(x, t)
			if err != nil {
				return nil, err
			}
			s = append(s, p)
		}
		return s, nil
	case "ByteLevel":
		return byteLevelPost{trimOffsets: c.TrimOffsets == nil || *c.TrimOffsets, addPrefixSpace: c.AddPrefixSpace == nil || *c.AddPrefixSpace}, nil
	case "TemplateProcessing":
		var p templatePost
		for _, item := range c.Single {
			if _, ok := item["Sequence"]; ok {
				p.single = append(p.single, templatePiece{seq: true})
				continue
			}
			st, ok := item["SpecialToken"]
			if !ok {
				return nil, l.badf("post_processor TemplateProcessing: template item must be Sequence or SpecialToken")
			}
			sp, ok := c.SpecialTokens[st.ID]
			if !ok {
				return nil, l.badf("post_processor TemplateProcessing: special token %q is not in special_tokens", st.ID)
			}
			if len(sp.IDs) != len(sp.Tokens) {
				return nil, l.badf("post_processor TemplateProcessing: special token %q has %d ids but %d tokens", st.ID, len(sp.IDs), len(sp.Tokens))
			}
			p.single = append(p.single, templatePiece{ids: sp.IDs, tokens: sp.Tokens})
		}
		return p, nil
	case "BertProcessing", "RobertaProcessing":
		p := clsSepPost{applyByteLevTrim: c.Type == "RobertaProcessing",
			trimOffsets: c.TrimOffsets == nil || *c.TrimOffsets, addPrefixSpace: c.AddPrefixSpace == nil || *c.AddPrefixSpace}
		var err1, err2 error
		p.clsTok, p.cls, err1 = l.tokPair(c.Cls, c.Type+" cls")
		p.sepTok, p.sep, err2 = l.tokPair(c.Sep, c.Type+" sep")
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		return p, nil
	default:
		return nil, l.unsupported("post_processor", c.Type, "supported: TemplateProcessing, ByteLevel, Sequence, BertProcessing, RobertaProcessing")
	}
}

func (l loader) tokPair(raw []json.RawMessage, what string) (string, int, error) {
	var tok string
	var id int
	if len(raw) != 2 || json.Unmarshal(raw[0], &tok) != nil || json.Unmarshal(raw[1], &id) != nil {
		return "", 0, l.badf("post_processor %s: want [\"token\", id]", what)
	}
	return tok, id, nil
}

func (l loader) model(rm *rawModel) (*bpe, []string, error) {
	if rm == nil {
		return nil, nil, l.badf("missing \"model\"")
	}
	typ := rm.Type
	if typ == "" {
		// Old files omit the type; Hugging Face then tries each model in turn.
		switch {
		case rm.Merges != nil && rm.Vocab.m != nil:
			typ = "BPE"
		case rm.MaxInputCharsPerWord != nil:
			typ = "WordPiece"
		default:
			typ = "(untyped)"
		}
	}
	if typ != "BPE" {
		return nil, nil, l.unsupported("model", typ, "only BPE models (SentencePiece-style and byte-level) are implemented")
	}
	if rm.Dropout != nil && *rm.Dropout > 0 {
		return nil, nil, l.unsupported("model", "BPE", fmt.Sprintf("dropout %g makes tokenization random; only dropout null or 0 is supported", *rm.Dropout))
	}
	vocab := rm.Vocab.m
	if vocab == nil {
		return nil, nil, l.badf("model.vocab: want an object of token -> id")
	}
	b := &bpe{vocab: vocab, merges: make(map[uint64]mergeVal), unk: -1,
		fuseUnk: rm.FuseUnk, byteFallback: rm.ByteFallback, ignoreMerges: rm.IgnoreMerges, cache: newWordCache()}
	maxID := int32(-1)
	for tok, id := range vocab {
		if id < 0 || id >= maxVocabID {
			return nil, nil, l.badf("model.vocab: token %q has id %d, want 0 <= id < %d", tok, id, maxVocabID)
		}
		maxID = max(maxID, id)
	}
	rev := make([]string, maxID+1)
	for tok, id := range vocab {
		rev[id] = tok
	}
	if rm.ContinuingSubwordPrefix != nil {
		b.prefix = *rm.ContinuingSubwordPrefix
	}
	if rm.EndOfWordSuffix != nil {
		b.suffix = *rm.EndOfWordSuffix
	}
	if rm.UnkToken != nil {
		id, ok := vocab[*rm.UnkToken]
		if !ok {
			return nil, nil, l.badf("model.unk_token %q is not in the vocabulary", *rm.UnkToken)
		}
		b.unk = id
	}
	b.initLowRune()
	for i := range b.byteTok {
		b.byteTok[i] = -1
		if id, ok := vocab[byteFallbackToken(byte(i))]; ok {
			b.byteTok[i] = id
		}
	}
	var merges [][2]string
	if rm.Merges != nil {
		if rm.Merges.err != nil {
			return nil, nil, l.badf("%v", rm.Merges.err)
		}
		merges = rm.Merges.pairs
	}
	for rank, mg := range merges {
		a, okA := vocab[mg[0]]
		bb, okB := vocab[mg[1]]
		if !okA || !okB {
			return nil, nil, l.badf("model.merges[%d]: %q %q: token not in the vocabulary", rank, mg[0], mg[1])
		}
		right := mg[1]
		if len(b.prefix) <= len(right) {
			right = right[len(b.prefix):]
		}
		id, ok := vocab[mg[0]+right]
		if !ok {
			return nil, nil, l.badf("model.merges[%d]: merged token %q is not in the vocabulary", rank, mg[0]+right)
		}
		b.merges[pairKey(a, bb)] = mergeVal{int32(rank), id}
	}
	return b, rev, nil
}

// readFile reads a file, naming it in the error.
func readFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading tokenizer: %w", err)
	}
	return b, nil
}
