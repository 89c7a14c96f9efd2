// Package bench loads and builds the cross-lingual consistency benchmarks
// that CrossIn is evaluated on (Cross-MMLU, Cross-LogiQA and Cross-XQuAD),
// renders their prompts, and maps a model's free-text answer onto one of the
// options the way SeaEval does.
//
// All three benchmarks share SeaEval's file format, so one loader serves them:
// one question per line, every language holding a parallel translation of the
// same question with the same gold letter:
//
//	{"id": "test_1",
//	 "English": {"context": "...", "question": "...",
//	             "choices": ["(A) ...", "(B) ...", "(C) ...", "(D) ..."],
//	             "answer": "(A) ...", "answer_index": 0},
//	 "Chinese": {...}, ...}
//
// Languages are named as SeaEval names them (English, Chinese, Vietnamese,
// Spanish, Indonesian, Malay, Filipino, ...); LanguageName converts the ISO
// 639-1 codes used elsewhere in crossin. "context" is absent for Cross-MMLU;
// "answer_index" may be absent, and is then derived from "answer".
package bench

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/crossin-lab/crossin/atomicfile"
)

// Item is one question in one language.
type Item struct {
	Context  string   `json:"context,omitempty"`
	Question string   `json:"question"`
	Choices  []string `json:"choices"`
	// Answer is the gold choice string, exactly one of Choices.
	Answer string `json:"answer"`
	// AnswerIndex is the position of Answer in Choices.
	AnswerIndex int `json:"answer_index"`
}

// Question is one benchmark question in several parallel languages.
type Question struct {
	ID string
	// Languages lists the languages of Items in file order. SeaEval derives
	// the order of its languages (and so the names of its consistency
	// subsets) from the order of the keys in the file, so it is kept.
	Languages []string
	Items     map[string]*Item
	// Line is the 1-based line of the question in its file (0 if built).
	Line int
}

// Item returns the question in language lang, or nil.
func (q *Question) Item(lang string) *Item { return q.Items[lang] }

// Benchmark is a loaded benchmark file.
type Benchmark struct {
	// Name is the benchmark name (cross_mmlu, cross_logiqa, cross_xquad),
	// taken from the file name unless set by the caller.
	Name      string
	Path      string
	Questions []*Question
	// Languages are the languages that every question has, in the order
	// of the first question.
	Languages []string
	byID      map[string]int
}

// Question returns the question with the given id.
func (b *Benchmark) Question(id string) (*Question, bool) {
	i, ok := b.byID[id]
	if !ok {
		return nil, false
	}
	return b.Questions[i], true
}

// HasLanguage reports whether every question of b has language lang.
func (b *Benchmark) HasLanguage(lang string) bool {
	for _, l := range b.Languages {
		if l == lang {
			return true
		}
	}
	return false
}

// Select returns a copy of b that holds only the first n questions (all if
// n <= 0 or n >= len) and only the given languages (all if none given).
// The quickstart samples are built this way.
func (b *Benchmark) Select(n int, languages ...string) (*Benchmark, error) {
	for _, l := range languages {
		if !b.HasLanguage(l) {
			return nil, fmt.Errorf("benchmark %s has no language %q (it has %s)", b.Name, l, strings.Join(b.Languages, ", "))
		}
	}
	if len(languages) == 0 {
		languages = b.Languages
	}
	qs := b.Questions
	if n > 0 && n < len(qs) {
		qs = qs[:n]
	}
	out := &Benchmark{Name: b.Name, Path: b.Path, Languages: append([]string(nil), languages...)}
	for _, q := range qs {
		nq := &Question{ID: q.ID, Items: map[string]*Item{}, Line: q.Line}
		for _, l := range languages {
			it := *q.Items[l]
			it.Choices = append([]string(nil), it.Choices...)
			nq.Languages = append(nq.Languages, l)
			nq.Items[l] = &it
		}
		out.Questions = append(out.Questions, nq)
	}
	out.reindex()
	return out, nil
}

// Sample returns a copy of b with n questions spread evenly over the file
// (question floor(i*N/n) for i < n) in the given languages (all if none),
// so a small sample still covers the file's topics. n <= 0 or n >= N keeps
// every question.
func (b *Benchmark) Sample(n int, languages ...string) (*Benchmark, error) {
	all, err := b.Select(0, languages...)
	if err != nil {
		return nil, err
	}
	N := len(all.Questions)
	if n <= 0 || n >= N {
		return all, nil
	}
	qs := make([]*Question, 0, n)
	for i := 0; i < n; i++ {
		qs = append(qs, all.Questions[i*N/n])
	}
	all.Questions = qs
	all.reindex()
	return all, nil
}

func (b *Benchmark) reindex() {
	b.byID = make(map[string]int, len(b.Questions))
	for i, q := range b.Questions {
		b.byID[q.ID] = i
	}
}

// New assembles a benchmark from questions built in memory (the Cross-XQuAD
// builder uses it). It validates them as Load would.
func New(name string, questions []*Question) (*Benchmark, error) {
	b := &Benchmark{Name: name, Questions: questions}
	for _, q := range questions {
		for _, l := range q.Languages {
			if err := validateItem(q.Items[l]); err != nil {
				return nil, fmt.Errorf("question %s, %s: %w", q.ID, l, err)
			}
		}
	}
	if err := b.finish(); err != nil {
		return nil, err
	}
	return b, nil
}

// Load reads a benchmark file in SeaEval's format (JSONL or a JSON array;
// gzip-compressed when the name ends in .gz). The benchmark's name is the
// file name without extensions (cross_mmlu.sample.jsonl -> cross_mmlu).
// Errors name the file and line and say what was expected.
func Load(path string) (*Benchmark, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load benchmark: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	b, err := Parse(r, path)
	if err != nil {
		return nil, err
	}
	b.Path = path
	return b, nil
}

// NameFromPath returns the benchmark name a file path implies: the base name
// up to the first dot.
func NameFromPath(path string) string {
	base := filepath.Base(path)
	if i := strings.IndexByte(base, '.'); i > 0 {
		base = base[:i]
	}
	return base
}

// Parse reads a benchmark in SeaEval's format from r: JSONL (one question
// per line, as crossin writes it) or a JSON array of the same objects (as
// the Hugging Face hub's SeaEval/SeaEval_datasets files are). name is used
// for error messages and to name the benchmark.
func Parse(r io.Reader, name string) (*Benchmark, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	b := &Benchmark{Name: NameFromPath(name)}
	if t := bytes.TrimLeft(data, " \t\r\n\ufeff"); len(t) > 0 && t[0] == '[' {
		err = b.parseArray(data, name)
	} else {
		err = b.parseLines(data, name)
	}
	if err != nil {
		return nil, err
	}
	if len(b.Questions) == 0 {
		return nil, fmt.Errorf("%s: no questions; expected one JSON object per line like {\"id\": \"test_1\", \"English\": {\"question\": ..., \"choices\": [...], \"answer\": ...}}", name)
	}
	if err := b.finish(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}

func (b *Benchmark) add(q *Question, line int, name string, seen map[string]int) error {
	if prev, dup := seen[q.ID]; dup {
		return fmt.Errorf("%s:%d: duplicate question id %q (first on line %d); ids must be unique", name, line, q.ID, prev)
	}
	seen[q.ID] = line
	q.Line = line
	b.Questions = append(b.Questions, q)
	return nil
}

func (b *Benchmark) parseLines(data []byte, name string) error {
	seen := map[string]int{}
	for i, rawLine := range bytes.Split(data, []byte("\n")) {
		raw := bytes.TrimSpace(rawLine)
		if i == 0 {
			raw = bytes.TrimPrefix(raw, []byte("\ufeff"))
		}
		if len(raw) == 0 {
			continue
		}
		q, err := parseQuestion(raw)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", name, i+1, err)
		}
		if err := b.add(q, i+1, name, seen); err != nil {
			return err
		}
	}
	return nil
}

// parseArray reads a JSON array of questions; errors name the line on which
// the offending element starts.
func (b *Benchmark) parseArray(data []byte, name string) error {
	lineAt := func(off int64) int { return 1 + bytes.Count(data[:min(int(off), len(data))], []byte("\n")) }
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("%s:1: bad JSON: %v", name, err)
	}
	seen := map[string]int{}
	for dec.More() {
		start := dec.InputOffset()
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("%s:%d: bad JSON: %v", name, lineAt(start), err)
		}
		// The element starts after any separator and white space.
		line := lineAt(start + int64(len(data[start:])-len(bytes.TrimLeft(data[start:], ", \t\r\n"))))
		q, err := parseQuestion(raw)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if err := b.add(q, line, name, seen); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("%s:%d: bad JSON: %v", name, lineAt(dec.InputOffset()), err)
	}
	return nil
}

// finish computes the common languages and the id index.
func (b *Benchmark) finish() error {
	if len(b.Questions) == 0 {
		return errors.New("no questions")
	}
	count := map[string]int{}
	for _, q := range b.Questions {
		for _, l := range q.Languages {
			count[l]++
		}
	}
	b.Languages = nil
	for _, l := range b.Questions[0].Languages {
		if count[l] == len(b.Questions) {
			b.Languages = append(b.Languages, l)
		}
	}
	if len(b.Languages) == 0 {
		return errors.New("no language is present in every question")
	}
	b.reindex()
	if len(b.byID) != len(b.Questions) {
		return errors.New("duplicate question ids")
	}
	return nil
}

// parseQuestion decodes one line, keeping the order of the language keys.
func parseQuestion(raw []byte) (*Question, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("bad JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("expected a JSON object, got %v", tok)
	}
	q := &Question{Items: map[string]*Item{}}
	hasID := false
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("bad JSON: %v", err)
		}
		key := kt.(string)
		if key == "id" {
			var id any
			if err := dec.Decode(&id); err != nil {
				return nil, fmt.Errorf("bad JSON in \"id\": %v", err)
			}
			switch v := id.(type) {
			case string:
				q.ID = v
			case float64:
				q.ID = fmt.Sprint(v)
			default:
				return nil, fmt.Errorf("\"id\" must be a string, got %v", id)
			}
			hasID = true
			continue
		}
		var it Item
		var rawItem json.RawMessage
		if err := dec.Decode(&rawItem); err != nil {
			return nil, fmt.Errorf("bad JSON in %q: %v", key, err)
		}
		if !bytes.HasPrefix(bytes.TrimSpace(rawItem), []byte("{")) {
			return nil, fmt.Errorf("language %q: expected an object with question, choices and answer", key)
		}
		it.AnswerIndex = -1
		if err := json.Unmarshal(rawItem, &it); err != nil {
			return nil, fmt.Errorf("language %q: %v", key, err)
		}
		if err := validateItem(&it); err != nil {
			return nil, fmt.Errorf("language %q: %w", key, err)
		}
		if _, dup := q.Items[key]; dup {
			return nil, fmt.Errorf("language %q appears twice", key)
		}
		q.Items[key] = &it
		q.Languages = append(q.Languages, key)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("bad JSON: %v", err)
	}
	if dec.More() {
		return nil, errors.New("bad JSON: trailing data after the object")
	}
	if !hasID || q.ID == "" {
		return nil, errors.New("missing \"id\"")
	}
	if len(q.Languages) == 0 {
		return nil, fmt.Errorf("question %q has no languages", q.ID)
	}
	return q, nil
}

// validateItem checks an item and fills AnswerIndex from Answer when unset
// (negative).
func validateItem(it *Item) error {
	if it == nil {
		return errors.New("missing item")
	}
	if len(it.Choices) < 2 {
		return fmt.Errorf("expected at least 2 choices, got %d", len(it.Choices))
	}
	if len(it.Choices) > len(letters) {
		return fmt.Errorf("at most %d choices are supported, got %d", len(letters), len(it.Choices))
	}
	idx := -1
	for i, c := range it.Choices {
		if c == it.Answer {
			idx = i
			break
		}
	}
	if idx < 0 {
		return fmt.Errorf("answer %q is not one of the choices %q", it.Answer, it.Choices)
	}
	if it.AnswerIndex < 0 {
		it.AnswerIndex = idx
	} else if it.AnswerIndex != idx {
		return fmt.Errorf("answer_index %d does not match answer %q (choice %d)", it.AnswerIndex, it.Answer, idx)
	}
	return nil
}

// letters are SeaEval's option letters; it supports at most ten options.
const letters = "ABCDEFGHIJ"

// Letter returns the option letter of choice i ("A" for 0).
func Letter(i int) string {
	if i < 0 || i >= len(letters) {
		return "?"
	}
	return letters[i : i+1]
}

// MarshalJSON writes the question in SeaEval's format with "id" first and
// the languages in order.
func (q *Question) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(`{"id":`)
	id, _ := json.Marshal(q.ID)
	buf.Write(id)
	for _, l := range q.Languages {
		k, _ := json.Marshal(l)
		buf.WriteByte(',')
		buf.Write(k)
		buf.WriteByte(':')
		v, err := marshalNoEscape(q.Items[l])
		if err != nil {
			return nil, err
		}
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// marshalNoEscape encodes v without escaping <, > and & so that files stay
// readable and byte-identical to what other tools write.
func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// Write writes b in SeaEval's JSONL format, one question per line.
func (b *Benchmark) Write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for _, q := range b.Questions {
		line, err := q.MarshalJSON()
		if err != nil {
			return err
		}
		bw.Write(line)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// Save writes b to path atomically (a temporary file in the same directory,
// then rename), so a reader never sees half a file.
func (b *Benchmark) Save(path string) error {
	return atomicfile.WriteFunc(path, 0o644, func(w io.Writer) error { return b.Write(w) })
}
