// Package tokenizer runs Hugging Face tokenizer.json files in pure Go, with
// the same ids, tokens, offsets and decoded text as the Rust `tokenizers`
// library for the BPE tokenizers of the model families crossin trains:
// SentencePiece-style BPE (Llama-2, Mistral: Metaspace or Prepend+Replace,
// byte fallback) and byte-level BPE (GPT-2, Qwen, Llama-3: regex split,
// ByteLevel, NFC). Other model kinds (WordPiece, Unigram, ...) and unknown
// components fail at load time with an *UnsupportedError naming them, so a
// model is never trained on silently different token ids.
//
// The pipeline mirrors Hugging Face's: added tokens are cut out of the raw
// text first, the rest is normalized (and cut again at normalized added
// tokens), pre-tokenized into words, each word is run through BPE (with a
// word cache), and the post-processor adds BOS/EOS. A *Tokenizer is
// immutable after loading apart from its internal cache and is safe for
// concurrent use.
package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// Tokenizer is a loaded tokenizer.json (plus tokenizer_config.json when
// found). Use Load or LoadDir.
type Tokenizer struct {
	path       string
	norm       normalizer    // nil: none
	pre        pretokenizer  // nil: the whole piece is one word
	model      *bpe          //
	post       postProcessor // nil: none
	dec        decoder       // nil: tokens joined with spaces
	vocabR     []string      // model id -> token
	added      []AddedToken
	addedByID  map[int]*AddedToken
	addedByTok map[string]*AddedToken
	rawAdded   *matcher // added tokens matched on the raw text
	normAdded  *matcher // added tokens matched on normalized text
	cfg        Config
	// fastWords, when set, is the regex matcher of a "split, then
	// ByteLevel" pre-tokenizer; Encode then looks words up in rawCache by
	// their unmapped bytes and skips building per-word pieces.
	fastWords func(s string, dst [][2]int) [][2]int
	rawCache  *wordCache
	// spSplit: the model has no pre-tokenizer and no token with "▁" after
	// another char, so a piece can be cut before each such "▁" without
	// changing the BPE result (no merge can cross the cut); the short
	// segments then hit the word cache.
	spSplit bool
	// idTok, idKnown, idSpecial: every id's token (added tokens win), for
	// Decode without map lookups.
	idTok     []string
	idKnown   []bool
	idSpecial []bool
	bos, eos  int
	hasBOS    bool
	hasEOS    bool
}

// Config is what crossin uses from tokenizer_config.json.
type Config struct {
	BOSToken    string // "" when unset or null
	EOSToken    string
	PadToken    string
	UnkToken    string
	AddBOSToken *bool // nil when absent
	AddEOSToken *bool
	// ChatTemplate is the Jinja chat template (the "default" one when the
	// file has a list of named templates); callers render it themselves.
	ChatTemplate string
	// ChatTemplates holds every named template when the file has a list.
	ChatTemplates  map[string]string
	TokenizerClass string
	// Found reports whether a tokenizer_config.json was read.
	Found bool
	Path  string
}

// Option configures Load.
type Option func(*options)

type options struct {
	configPath string
	noConfig   bool
}

// WithConfigFile reads tokenizer_config.json from path instead of looking
// beside the tokenizer.json.
func WithConfigFile(path string) Option { return func(o *options) { o.configPath = path } }

// WithoutConfig skips tokenizer_config.json; BOS/EOS then come from the
// post-processor template only.
func WithoutConfig() Option { return func(o *options) { o.noConfig = true } }

// LoadDir loads dir/tokenizer.json and, when present, dir/tokenizer_config.json
// (a Hugging Face model directory).
func LoadDir(dir string, opts ...Option) (*Tokenizer, error) {
	return Load(filepath.Join(dir, "tokenizer.json"), opts...)
}

// Load loads a tokenizer.json. The tokenizer_config.json beside it is read
// too when it exists: "DIR/tokenizer.json" pairs with
// "DIR/tokenizer_config.json" and "DIR/NAME.tokenizer.json" with
// "DIR/NAME.tokenizer_config.json".
func Load(path string, opts ...Option) (*Tokenizer, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	t, err := parse(path, data)
	if err != nil {
		return nil, err
	}
	if !o.noConfig {
		cp := o.configPath
		explicit := cp != ""
		if !explicit && strings.HasSuffix(path, "tokenizer.json") {
			cp = strings.TrimSuffix(path, "tokenizer.json") + "tokenizer_config.json"
		}
		if cp != "" {
			cfg, err := readConfig(cp)
			switch {
			case err == nil:
				t.cfg = cfg
			case explicit || !errors.Is(err, os.ErrNotExist):
				return nil, err
			}
		}
	}
	t.resolveSpecial()
	return t, nil
}

// Parse builds a Tokenizer from the bytes of a tokenizer.json; name is used
// in error messages. No tokenizer_config.json is read.
func Parse(name string, data []byte) (*Tokenizer, error) {
	t, err := parse(name, data)
	if err != nil {
		return nil, err
	}
	t.resolveSpecial()
	return t, nil
}

func parse(path string, data []byte) (*Tokenizer, error) {
	l := loader{path: path}
	var raw rawFile
	if err := json.Unmarshal(data, &raw); err != nil {
		// A model of another kind may fail to decode (a list vocab, say);
		// name its type rather than the decoding error.
		var typ struct {
			Model struct {
				Type string `json:"type"`
			} `json:"model"`
		}
		if json.Unmarshal(data, &typ) == nil && typ.Model.Type != "" && typ.Model.Type != "BPE" {
			return nil, l.unsupported("model", typ.Model.Type, "only BPE models (SentencePiece-style and byte-level) are implemented")
		}
		return nil, jsonError(path, data, err)
	}
	t := &Tokenizer{path: path}
	model, rev, err := l.model(raw.Model)
	if err != nil {
		return nil, err
	}
	t.model, t.vocabR = model, rev
	if !isNull(raw.Normalizer) {
		if t.norm, err = l.normalizer(raw.Normalizer); err != nil {
			return nil, err
		}
	}
	if !isNull(raw.PreTokenizer) {
		if t.pre, err = l.pretokenizer(raw.PreTokenizer); err != nil {
			return nil, err
		}
	}
	if !isNull(raw.PostProcessor) {
		if t.post, err = l.postProcessor(raw.PostProcessor, t); err != nil {
			return nil, err
		}
	}
	if !isNull(raw.Decoder) {
		if t.dec, err = l.decoder(raw.Decoder); err != nil {
			return nil, err
		}
	}
	if err := t.setAdded(l, raw.AddedTokens); err != nil {
		return nil, err
	}
	t.plan()
	t.idTok = make([]string, t.VocabSize())
	t.idKnown = make([]bool, len(t.idTok))
	t.idSpecial = make([]bool, len(t.idTok))
	for id, tok := range t.vocabR {
		if tok != "" || t.model.vocab[""] == int32(id) {
			t.idTok[id], t.idKnown[id] = tok, true
		}
	}
	for id, a := range t.addedByID {
		t.idTok[id], t.idKnown[id], t.idSpecial[id] = a.Content, true, a.Special
	}
	return t, nil
}

// plan picks the exact shortcuts this tokenizer allows (see fastWords and
// spSplit).
func (t *Tokenizer) plan() {
	if seq, ok := t.pre.(preSeq); ok && len(seq) == 2 {
		sp, ok1 := seq[0].(*splitPre)
		bl, ok2 := seq[1].(byteLevelPre)
		if ok1 && ok2 && sp.fast != nil && sp.b == bIsolated && !sp.invert && !bl.prefixSpace && bl.regex == nil {
			t.fastWords = sp.fast
		}
	}
	if bl, ok := t.pre.(byteLevelPre); ok && !bl.prefixSpace && bl.regex != nil && bl.regex.fast != nil {
		t.fastWords = bl.regex.fast
	}
	if t.fastWords != nil {
		t.rawCache = newWordCache()
	}
	m := t.model
	if t.pre == nil && m.prefix == "" && m.suffix == "" && !m.ignoreMerges {
		if _, ok := m.vocab[spaceMark]; ok {
			t.spSplit = true
			for tok := range m.vocab {
				if strings.Contains(strings.TrimLeft(tok, spaceMark), spaceMark) {
					t.spSplit = false
					break
				}
			}
		}
	}
}

// spaceMark is SentencePiece's visible space, U+2581.
const spaceMark = "▁"

// jsonError turns a JSON error into "file:line:col: ..." where possible.
func jsonError(path string, data []byte, err error) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 || off > int64(len(data)) {
		return fmt.Errorf("%s: not a valid tokenizer.json: %v", path, err)
	}
	line, col := 1, 1
	for _, c := range data[:off] {
		if c == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return fmt.Errorf("%s:%d:%d: not a valid tokenizer.json: %v", path, line, col, err)
}

// setAdded registers the added tokens. Like Hugging Face, a token whose
// content is already in the model vocabulary keeps the model's id.
func (t *Tokenizer) setAdded(l loader, toks []AddedToken) error {
	t.addedByID = make(map[int]*AddedToken)
	t.addedByTok = make(map[string]*AddedToken)
	t.added = make([]AddedToken, 0, len(toks))
	for _, a := range toks {
		if a.Content == "" {
			return l.badf("added_tokens: token with id %d has empty content", a.ID)
		}
		if id, ok := t.model.vocab[a.Content]; ok {
			a.ID = int(id)
		}
		if a.ID < 0 || a.ID >= maxVocabID {
			return l.badf("added_tokens: token %q has id %d, want 0 <= id < %d", a.Content, a.ID, maxVocabID)
		}
		if _, dup := t.addedByTok[a.Content]; dup {
			continue
		}
		t.added = append(t.added, a)
	}
	var rawPats, normPats []string
	var rawToks, normToks []*AddedToken
	for i := range t.added {
		a := &t.added[i]
		t.addedByID[a.ID] = a
		t.addedByTok[a.Content] = a
		if a.Normalized {
			p := a.Content
			if t.norm != nil {
				p = t.norm.normalize(nstr{s: p}).s
			}
			normPats, normToks = append(normPats, p), append(normToks, a)
		} else {
			rawPats, rawToks = append(rawPats, a.Content), append(rawToks, a)
		}
	}
	t.rawAdded = newMatcher(rawPats, rawToks)
	t.normAdded = newMatcher(normPats, normToks)
	return nil
}

// readConfig reads the parts of tokenizer_config.json crossin uses.
func readConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("reading tokenizer config: %w", err)
	}
	var raw struct {
		BOS            json.RawMessage `json:"bos_token"`
		EOS            json.RawMessage `json:"eos_token"`
		Pad            json.RawMessage `json:"pad_token"`
		Unk            json.RawMessage `json:"unk_token"`
		AddBOS         *bool           `json:"add_bos_token"`
		AddEOS         *bool           `json:"add_eos_token"`
		ChatTemplate   json.RawMessage `json:"chat_template"`
		TokenizerClass string          `json:"tokenizer_class"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return Config{}, jsonError(path, data, err)
	}
	cfg := Config{Found: true, Path: path, AddBOSToken: raw.AddBOS, AddEOSToken: raw.AddEOS, TokenizerClass: raw.TokenizerClass}
	for _, f := range []struct {
		raw json.RawMessage
		dst *string
		key string
	}{{raw.BOS, &cfg.BOSToken, "bos_token"}, {raw.EOS, &cfg.EOSToken, "eos_token"}, {raw.Pad, &cfg.PadToken, "pad_token"}, {raw.Unk, &cfg.UnkToken, "unk_token"}} {
		s, err := tokenField(f.raw)
		if err != nil {
			return Config{}, fmt.Errorf("%s: %s: %v", path, f.key, err)
		}
		*f.dst = s
	}
	if !isNull(raw.ChatTemplate) {
		var s string
		if json.Unmarshal(raw.ChatTemplate, &s) == nil {
			cfg.ChatTemplate = s
		} else {
			var named []struct {
				Name     string `json:"name"`
				Template string `json:"template"`
			}
			if err := json.Unmarshal(raw.ChatTemplate, &named); err != nil {
				return Config{}, fmt.Errorf("%s: chat_template: want a string or a list of {name, template}: %v", path, err)
			}
			cfg.ChatTemplates = map[string]string{}
			for _, n := range named {
				cfg.ChatTemplates[n.Name] = n.Template
			}
			cfg.ChatTemplate = cfg.ChatTemplates["default"]
		}
	}
	return cfg, nil
}

// tokenField reads a special-token field: null, "text" or {"content": "text", ...}.
func tokenField(m json.RawMessage) (string, error) {
	if isNull(m) {
		return "", nil
	}
	var s string
	if json.Unmarshal(m, &s) == nil {
		return s, nil
	}
	var obj struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(m, &obj); err != nil {
		return "", fmt.Errorf("want a string, null or {\"content\": ...}")
	}
	return obj.Content, nil
}

// resolveSpecial sets BOS/EOS: from tokenizer_config.json when it was read,
// otherwise from the special tokens the post-processor puts before and
// after the sequence.
func (t *Tokenizer) resolveSpecial() {
	if t.cfg.Found {
		if t.cfg.BOSToken != "" {
			t.bos, t.hasBOS = t.TokenToID(t.cfg.BOSToken)
		}
		if t.cfg.EOSToken != "" {
			t.eos, t.hasEOS = t.TokenToID(t.cfg.EOSToken)
		}
		return
	}
	var pieces []templatePiece
	switch p := t.post.(type) {
	case templatePost:
		pieces = p.single
	case postSeq:
		for _, x := range p {
			if tp, ok := x.(templatePost); ok {
				pieces = tp.single
			}
		}
	case clsSepPost:
		t.bos, t.eos, t.hasBOS, t.hasEOS = p.cls, p.sep, true, true
		return
	}
	seen := false
	for _, pc := range pieces {
		switch {
		case pc.seq:
			seen = true
		case !seen && len(pc.ids) == 1:
			t.bos, t.hasBOS = pc.ids[0], true
		case seen && len(pc.ids) == 1:
			t.eos, t.hasEOS = pc.ids[0], true
		}
	}
}

// Path is the tokenizer.json this tokenizer was loaded from.
func (t *Tokenizer) Path() string { return t.path }

// Config returns what was read from tokenizer_config.json.
func (t *Tokenizer) Config() Config { return t.cfg }

// ChatTemplate returns the Jinja chat template of tokenizer_config.json ("" if none).
func (t *Tokenizer) ChatTemplate() string { return t.cfg.ChatTemplate }

// BOS returns the beginning-of-sequence id, if the tokenizer has one.
func (t *Tokenizer) BOS() (int, bool) { return t.bos, t.hasBOS }

// EOS returns the end-of-sequence id, if the tokenizer has one.
func (t *Tokenizer) EOS() (int, bool) { return t.eos, t.hasEOS }

// AddedTokens returns the added tokens (special or not) in file order.
func (t *Tokenizer) AddedTokens() []AddedToken { return append([]AddedToken(nil), t.added...) }

// VocabSize is one more than the largest id, counting added tokens (the
// number of embedding rows a model needs at least).
func (t *Tokenizer) VocabSize() int {
	n := len(t.vocabR)
	for id := range t.addedByID {
		n = max(n, id+1)
	}
	return n
}

// TokenToID returns the id of a token string (added tokens first).
func (t *Tokenizer) TokenToID(tok string) (int, bool) {
	if a, ok := t.addedByTok[tok]; ok {
		return a.ID, true
	}
	if id, ok := t.model.vocab[tok]; ok {
		return int(id), true
	}
	return 0, false
}

// IDToToken returns the token string of an id (added tokens first).
func (t *Tokenizer) IDToToken(id int) (string, bool) {
	if id < 0 || id >= len(t.idTok) || !t.idKnown[id] {
		return "", false
	}
	return t.idTok[id], true
}

// IsSpecial reports whether id is an added token marked special (the ones
// Decode skips with skipSpecial).
func (t *Tokenizer) IsSpecial(id int) bool {
	return id >= 0 && id < len(t.idSpecial) && t.idSpecial[id]
}

// Encoding is the full result of encoding one text.
type Encoding struct {
	IDs    []int
	Tokens []string
	// Offsets are byte ranges [start, end) of the input text per token;
	// tokens added by the post-processor have [0, 0]. See RuneOffsets.
	Offsets [][2]int
}

// Encode returns the token ids of text. With addSpecial the post-processor
// adds its special tokens (BOS for Llama). Added tokens written in the text
// ("<s>", "<|im_end|>") are recognised either way, as in Hugging Face.
// Invalid UTF-8 is first replaced by U+FFFD per bad byte.
func (t *Tokenizer) Encode(text string, addSpecial bool) []int {
	e := t.run(text, addSpecial, false)
	if e.ids == nil {
		e.ids = []int{}
	}
	return e.ids
}

// EncodeFull is Encode with tokens and offsets.
func (t *Tokenizer) EncodeFull(text string, addSpecial bool) Encoding {
	e := t.run(text, addSpecial, true)
	if e.ids == nil {
		e.ids, e.toks, e.offs = []int{}, []string{}, [][2]int{}
	}
	return Encoding{IDs: e.ids, Tokens: e.toks, Offsets: e.offs}
}

// EncodeBatch encodes texts in parallel (up to GOMAXPROCS goroutines); the
// result is the same as calling Encode on each text in order.
func (t *Tokenizer) EncodeBatch(texts []string, addSpecial bool) [][]int {
	out := make([][]int, len(texts))
	workers := min(runtime.GOMAXPROCS(0), len(texts))
	if workers <= 1 {
		for i, s := range texts {
			out[i] = t.Encode(s, addSpecial)
		}
		return out
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(texts) {
					return
				}
				out[i] = t.Encode(texts[i], addSpecial)
			}
		}()
	}
	wg.Wait()
	return out
}

// Decode turns ids back into text with the tokenizer's decoder. Unknown ids
// are dropped; with skipSpecial, special added tokens are dropped too.
func (t *Tokenizer) Decode(ids []int, skipSpecial bool) string {
	toks := make([]string, 0, len(ids))
	for _, id := range ids {
		if id < 0 || id >= len(t.idTok) || !t.idKnown[id] || (skipSpecial && t.idSpecial[id]) {
			continue
		}
		toks = append(toks, t.idTok[id])
	}
	if t.dec == nil {
		return strings.Join(toks, " ")
	}
	return strings.Join(t.dec.decodeChain(toks), "")
}

// run is the encoding pipeline; track asks for tokens and offsets.
func (t *Tokenizer) run(text string, addSpecial, track bool) encoding {
	text = sanitizeUTF8(text)
	var e encoding
	if track {
		e.toks, e.offs = []string{}, [][2]int{}
	}
	st := &state{t: t, e: &e, track: track}
	if t.rawAdded.empty() {
		if text != "" {
			st.piece(origPiece(text, 0, len(text), track))
		}
	} else {
		for _, sg := range t.rawAdded.splitAdded(text) {
			if sg.tok != nil {
				st.emit(sg.tok.ID, sg.tok.Content, span{int32(sg.i), int32(sg.j)})
				continue
			}
			st.piece(origPiece(text, sg.i, sg.j, track))
		}
	}
	if t.post != nil {
		t.post.process(&e, addSpecial)
	}
	return e
}

// state carries one encoding call's buffers.
type state struct {
	t     *Tokenizer
	e     *encoding
	track bool
	words []nstr
	syms  []sym
	ms    [][2]int
	buf   []byte
}

func (s *state) emit(id int, tok string, sp span) {
	s.e.ids = append(s.e.ids, id)
	if s.track {
		s.e.toks = append(s.e.toks, tok)
		s.e.offs = append(s.e.offs, [2]int{int(sp.start), int(sp.end)})
	}
}

// piece normalizes a stretch of raw text between added tokens and encodes it.
func (s *state) piece(n nstr) {
	t := s.t
	if t.norm != nil {
		n = t.norm.normalize(n)
	}
	if t.normAdded.empty() {
		s.words2(n)
		return
	}
	for _, sg := range t.normAdded.splitAdded(n.s) {
		if sg.tok != nil {
			s.emit(sg.tok.ID, sg.tok.Content, n.spanOf(sg.i, sg.j))
			continue
		}
		s.words2(n.sub(sg.i, sg.j))
	}
}

// words2 pre-tokenizes a normalized piece and runs the model on each word.
func (s *state) words2(n nstr) {
	if n.s == "" {
		return
	}
	t := s.t
	if t.fastWords != nil && !s.track {
		s.rawWords(n.s)
		return
	}
	s.words = s.words[:0]
	if t.pre != nil {
		s.words = t.pre.split(s.words, n)
	} else if t.spSplit {
		s.words = cutBeforeMarks(s.words, n)
	} else {
		s.words = append(s.words, n)
	}
	for _, w := range s.words {
		s.syms = t.model.tokenize(s.syms[:0], w.s)
		pos := 0
		for _, sm := range s.syms {
			if s.track {
				tok, _ := t.IDToToken(int(sm.id))
				s.emit(int(sm.id), tok, w.spanOf(pos, min(pos+int(sm.n), len(w.s))))
			} else {
				s.e.ids = append(s.e.ids, int(sm.id))
			}
			pos += int(sm.n)
		}
	}
}

// rawWords is the ids-only path of byte-level tokenizers: regex words are
// looked up by their raw bytes; only a cache miss maps them to byte-level
// chars and runs BPE.
func (s *state) rawWords(text string) {
	t := s.t
	s.ms = t.fastWords(text, s.ms[:0])
	for _, m := range s.ms {
		w := text[m[0]:m[1]]
		syms, ok := t.rawCache.get(w)
		if !ok {
			s.buf = s.buf[:0]
			for i := 0; i < len(w); i++ {
				s.buf = append(s.buf, byteCharStr[w[i]]...)
			}
			s.syms = t.model.tokenize(s.syms[:0], string(s.buf))
			t.rawCache.put(w, s.syms)
			syms = s.syms
		}
		for _, sm := range syms {
			s.e.ids = append(s.e.ids, int(sm.id))
		}
	}
}

// cutBeforeMarks splits n before every "▁" that follows another char.
func cutBeforeMarks(dst []nstr, n nstr) []nstr {
	start := 0
	for i := 1; i < len(n.s); {
		k := strings.Index(n.s[i:], spaceMark)
		if k < 0 {
			break
		}
		at := i + k
		if !strings.HasSuffix(n.s[:at], spaceMark) {
			dst = append(dst, n.sub(start, at))
			start = at
		}
		i = at + len(spaceMark)
	}
	return append(dst, n.sub(start, len(n.s)))
}

// RuneOffsets converts byte offsets into text to rune (character) offsets,
// the unit Python's tokenizers reports.
func RuneOffsets(text string, offs [][2]int) [][2]int {
	charAt := make([]int, len(text)+1)
	c := 0
	for i := range text {
		for k := i; k < len(text) && (k == i || !isRuneStart(text[k])); k++ {
			charAt[k] = c
		}
		c++
	}
	charAt[len(text)] = c
	out := make([][2]int, len(offs))
	for i, o := range offs {
		a, b := clamp(o[0], len(text)), clamp(o[1], len(text))
		end := charAt[b]
		if b > 0 && b < len(text) && !isRuneStart(text[b]) {
			end = charAt[b] + 1
		}
		out[i] = [2]int{charAt[a], end}
	}
	return out
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

func clamp(v, hi int) int { return max(0, min(v, hi)) }
