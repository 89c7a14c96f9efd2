// Package dataset loads instruction-tuning data in the formats researchers
// actually have (an Alpaca JSON array, JSONL, x-LLM per-language files,
// Parquet as the Hugging Face hub stores it) and aligns parallel languages by
// id, so that the mixture builder never pairs a question with the answer to a
// different question.
//
// Every record keeps the line it came from, every rejected record is counted
// by reason, and every hard error names file:line, what was expected and how
// to fix it.
package dataset

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Record is one instruction-following example in one language.
type Record struct {
	// ID aligns the record with its translations. Numbers are kept in their
	// decimal spelling; sets without an id field use the 0-based position.
	ID          string
	Instruction string
	Input       string
	Output      string
	// Score is the alignment or quality score when the source has one.
	Score    float64
	HasScore bool
	// Line is the 1-based line of the source file where the record starts
	// (for Parquet, the 1-based row number).
	Line int
	// File is the shard the record came from when the set spans several
	// files (a folder of Parquet shards); empty for a single file.
	File string
}

// Skips counts records a loader left out, by reason. They are reported,
// never silent.
type Skips struct {
	NoID     int `json:"no_id"`     // id field present but null: the record is not aligned
	LowScore int `json:"low_score"` // score below the minimum
	Empty    int `json:"empty"`     // empty instruction or empty output
}

// Total is the number of records skipped for any reason.
func (s Skips) Total() int { return s.NoID + s.LowScore + s.Empty }

func (s Skips) String() string {
	return fmt.Sprintf("%d skipped (%d unaligned, %d below min score, %d empty)", s.Total(), s.NoID, s.LowScore, s.Empty)
}

// Set is the records of one language from one source.
type Set struct {
	Lang    string
	Source  string // file the set was read from
	Records []Record
	// ByIndex is true when ids are positions (the source had no id field),
	// as in x-LLM style per-language files.
	ByIndex bool
	// Total is the number of records in the source, skipped ones included.
	Total   int
	Skipped Skips
	index   map[string]int
}

// Get returns the record with id, if any.
func (s *Set) Get(id string) (*Record, bool) {
	if s.index == nil {
		s.buildIndex()
	}
	i, ok := s.index[id]
	if !ok {
		return nil, false
	}
	return &s.Records[i], true
}

func (s *Set) buildIndex() {
	s.index = make(map[string]int, len(s.Records))
	for i := range s.Records {
		s.index[s.Records[i].ID] = i
	}
}

// FilterScore returns a copy of s without the records whose score is below
// min (records without a score are kept), counted as LowScore skips. It is
// the same filter as WithMinScore, applied after loading, so one parse can
// serve several filters.
func (s *Set) FilterScore(min float64) *Set {
	out := *s
	out.index = nil
	out.Records = make([]Record, 0, len(s.Records))
	for _, r := range s.Records {
		if r.HasScore && r.Score < min {
			out.Skipped.LowScore++
			continue
		}
		out.Records = append(out.Records, r)
	}
	return &out
}

// Fields names the source fields of a format. Empty entries take the
// defaults; a default name has aliases (instruction|prompt, output|response)
// so the common variants load without configuration.
type Fields struct {
	ID          string
	Instruction string
	Input       string
	Output      string
	Score       string
}

func (f Fields) isDefault() bool { return f == Fields{} }

type config struct {
	lang      string
	minScore  float64
	hasMin    bool
	fields    Fields
	workers   int
	format    string
	byIndex   bool
	keepEmpty bool
}

// Option configures a loader.
type Option func(*config)

// WithLang sets the language code of the set (ISO 639-1, e.g. "zh").
func WithLang(code string) Option { return func(c *config) { c.lang = code } }

// WithMinScore keeps only records whose score field is >= min. Records
// without a score field are kept (an English pivot has none).
func WithMinScore(min float64) Option {
	return func(c *config) { c.minScore, c.hasMin = min, true }
}

// WithFields maps source field names onto the record fields.
func WithFields(f Fields) Option { return func(c *config) { c.fields = f } }

// WithAlignByIndex ignores id fields: records are identified by their
// 0-based position, as in x-LLM style files.
func WithAlignByIndex() Option { return func(c *config) { c.byIndex = true } }

// WithFormat sets the format (".json", ".jsonl", ".parquet") when the file
// name does not say it, as for content-addressed cache blobs.
func WithFormat(ext string) Option { return func(c *config) { c.format = ext } }

// WithKeepEmpty keeps records with an empty instruction or output instead
// of skipping them. The reference builder filters nothing, so replaying its
// draws needs every row at its position.
func WithKeepEmpty() Option { return func(c *config) { c.keepEmpty = true } }

var langRe = regexp.MustCompile(`^[a-z]{2,3}$`)

// CheckLang validates a language code and returns an error that says how to
// fix it.
func CheckLang(code string) error {
	if !langRe.MatchString(code) {
		return fmt.Errorf("bad language code %q: want an ISO 639-1 code such as en, zh, vi, es", code)
	}
	if _, ok := LanguageNames[code]; !ok {
		known := make([]string, 0, len(LanguageNames))
		for k := range LanguageNames {
			known = append(known, k)
		}
		sort.Strings(known)
		return fmt.Errorf("unknown language code %q (known: %s)", code, strings.Join(known, ", "))
	}
	return nil
}

// LanguageNames maps the ISO 639-1 codes crossin knows to English names,
// used in "Answer in Chinese." markers and translation instructions.
var LanguageNames = map[string]string{
	"ar": "Arabic", "bn": "Bengali", "de": "German", "en": "English", "es": "Spanish",
	"fr": "French", "hi": "Hindi", "id": "Indonesian", "it": "Italian", "ja": "Japanese",
	"km": "Khmer", "ko": "Korean", "lo": "Lao", "ms": "Malay", "my": "Burmese",
	"pt": "Portuguese", "ru": "Russian", "sw": "Swahili", "ta": "Tamil", "th": "Thai",
	"tl": "Filipino", "tr": "Turkish", "vi": "Vietnamese", "zh": "Chinese",
}

// PosError is a bad-input error at a position in a file.
type PosError struct {
	File string
	Line int
	Msg  string
}

func (e *PosError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// ErrFormat is wrapped by errors for files whose format is not recognised.
var ErrFormat = errors.New("unrecognised data format")

// Load reads one instruction set. The format follows the extension: .jsonl
// or .ndjson (one object a line), .json (an array of objects, or JSONL if the
// file starts with an object), .parquet. A folder is read as the Parquet
// shards of a data set's train split (see LoadDir).
func Load(path string, opts ...Option) (*Set, error) {
	cfg := config{}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.lang != "" {
		if err := CheckLang(cfg.lang); err != nil {
			return nil, err
		}
	}
	if isDir(path) {
		return loadDir(path, &cfg)
	}
	var (
		raws []rawRecord
		err  error
	)
	ext := strings.ToLower(filepath.Ext(path))
	if cfg.format != "" {
		ext = strings.ToLower(cfg.format)
	}
	switch ext {
	case ".parquet":
		raws, err = readParquet(path, path, &cfg)
	case ".json", ".jsonl", ".ndjson":
		data, rerr := os.ReadFile(path)
		if rerr != nil {
			return nil, rerr
		}
		first := firstNonSpace(data)
		switch {
		case first == '[' && ext == ".json":
			raws, err = decodeArray(path, data, &cfg)
		case first == '{' || first == 0:
			raws, err = decodeJSONL(path, data, &cfg)
		default:
			return nil, &PosError{File: path, Line: 1, Msg: fmt.Sprintf("expected a JSON array of objects or one JSON object per line, found %q", first)}
		}
	default:
		return nil, fmt.Errorf("%s: %w: extension %q (want .json, .jsonl, .ndjson or .parquet)", path, ErrFormat, ext)
	}
	if err != nil {
		return nil, err
	}
	return finish(path, raws, &cfg)
}

func firstNonSpace(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case 0xEF: // UTF-8 BOM
			continue
		}
		return c
	}
	return 0
}

// rawRecord is a decoded source record before validation.
type rawRecord struct {
	id          string
	idState     idState
	instruction string
	input       string
	output      string
	score       float64
	hasScore    bool
	line        int
	file        string // the shard, when a set spans several files
}

type idState uint8

const (
	idAbsent idState = iota
	idNull
	idPresent
)

// finish validates decoded records into a Set: ids consistent and unique,
// empties and low scores counted.
func finish(path string, raws []rawRecord, cfg *config) (*Set, error) {
	s := &Set{Lang: cfg.lang, Source: path, Records: make([]Record, 0, len(raws))}
	if len(raws) == 0 {
		return nil, &PosError{File: path, Msg: "no records"}
	}
	if cfg.byIndex {
		for i := range raws {
			raws[i].idState, raws[i].id = idAbsent, ""
		}
	}
	s.ByIndex = raws[0].idState == idAbsent
	s.Total = len(raws)
	idName := cfg.fields.ID
	if idName == "" {
		idName = "id"
	}
	s.index = make(map[string]int, len(raws))
	for i := range raws {
		r := &raws[i]
		if (r.idState == idAbsent) != s.ByIndex {
			want := "an"
			if s.ByIndex {
				want = "no"
			}
			return nil, &PosError{File: orPath(r.file, path), Line: r.line, Msg: fmt.Sprintf("record has %s %q field but the first record has %s; give every record an id, or none (then records align by position)", map[bool]string{true: "no", false: "an"}[r.idState == idAbsent], idName, want)}
		}
		switch r.idState {
		case idAbsent:
			r.id = itoa(i)
		case idNull:
			s.Skipped.NoID++
			continue
		}
		if prev, dup := s.index[r.id]; dup {
			first := fmt.Sprintf("line %d", s.Records[prev].Line)
			if r.file != "" {
				first = fmt.Sprintf("%s:%d", s.Records[prev].File, s.Records[prev].Line)
			}
			return nil, &PosError{File: orPath(r.file, path), Line: r.line, Msg: fmt.Sprintf("duplicate id %s (first at %s); ids must be unique within a language", r.id, first)}
		}
		// Empty before score, as FilterScore after loading counts them.
		if !cfg.keepEmpty && (strings.TrimSpace(r.instruction) == "" || strings.TrimSpace(r.output) == "") {
			s.Skipped.Empty++
			continue
		}
		if cfg.hasMin && r.hasScore && r.score < cfg.minScore {
			s.Skipped.LowScore++
			continue
		}
		s.index[r.id] = len(s.Records)
		s.Records = append(s.Records, Record{
			ID: r.id, Instruction: r.instruction, Input: r.input, Output: r.output,
			Score: r.score, HasScore: r.hasScore, Line: r.line, File: r.file,
		})
	}
	if len(s.Records) == 0 {
		names := "instruction|prompt and output|response"
		if !cfg.fields.isDefault() {
			names = fmt.Sprintf("%q and %q", cfg.fields.Instruction, cfg.fields.Output)
		}
		return nil, &PosError{File: path, Msg: fmt.Sprintf("no usable records (%s); check the field names (looked for %s) and the score filter", s.Skipped, names)}
	}
	return s, nil
}

func orPath(file, path string) string {
	if file != "" {
		return file
	}
	return path
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	var b [20]byte
	n := len(b)
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	return string(b[n:])
}

// LoadXLLM loads x-LLM style per-language files from dir: alpaca_{lang}.json
// for each language (prefix "alpaca" unless given). Records align by
// position, so every file must hold the same number of records.
func LoadXLLM(dir, prefix string, langs []string, opts ...Option) ([]*Set, error) {
	if prefix == "" {
		prefix = "alpaca"
	}
	var sets []*Set
	for _, l := range langs {
		var p string
		for _, ext := range []string{".json", ".jsonl", ".parquet"} {
			cand := filepath.Join(dir, prefix+"_"+l+ext)
			if _, err := os.Stat(cand); err == nil {
				p = cand
				break
			}
		}
		if p == "" {
			return nil, fmt.Errorf("%s: no %s_%s.json (or .jsonl, .parquet) for language %s", dir, prefix, l, l)
		}
		s, err := Load(p, append(append([]Option(nil), opts...), WithLang(l))...)
		if err != nil {
			return nil, err
		}
		if len(sets) > 0 && s.Total != sets[0].Total {
			return nil, fmt.Errorf("x-LLM files disagree in size: %s has %d records, %s has %d; position alignment needs equal sizes (add an id field to align by id)", sets[0].Source, sets[0].Total, s.Source, s.Total)
		}
		sets = append(sets, s)
	}
	return sets, nil
}
