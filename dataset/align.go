package dataset

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// Parallel is a set of languages joined by id. Item k has id IDs[k]; its
// record in language Langs[l] is Recs[l][k], or nil when that language lacks
// it. A missing translation stays nil: it is never filled from a neighbour.
type Parallel struct {
	Langs []string
	IDs   []string
	Recs  [][]*Record
	// Sets are the per-language inputs, in Langs order (for provenance and skips).
	Sets []*Set
}

// Coverage is how many aligned items a language has.
type Coverage struct {
	Lang    string `json:"lang"`
	Present int    `json:"present"`
	Items   int    `json:"items"`
	Source  string `json:"source"`
	Total   int    `json:"source_records"`
	Skipped Skips  `json:"skipped"`
}

// Align joins sets by id. Items are ordered by the first set's order, then
// ids only later sets have, in their order, so the result is deterministic.
// Each set needs a distinct language. Sets aligned by position (no id field)
// must agree in size with each other: a mismatch means the files are not
// parallel, and pairing them would silently mix unrelated texts.
func Align(sets ...*Set) (*Parallel, error) {
	if len(sets) == 0 {
		return nil, fmt.Errorf("align: no languages given")
	}
	p := &Parallel{Sets: sets}
	seen := map[string]string{}
	var byIndex *Set
	for _, s := range sets {
		if s.Lang == "" {
			return nil, fmt.Errorf("align: %s has no language code; give one (e.g. zh=%s)", s.Source, s.Source)
		}
		if prev, dup := seen[s.Lang]; dup {
			return nil, fmt.Errorf("align: language %s given twice (%s and %s)", s.Lang, prev, s.Source)
		}
		seen[s.Lang] = s.Source
		if s.ByIndex {
			if byIndex != nil && byIndex.Total != s.Total {
				return nil, fmt.Errorf("align: %s (%s, %d records) and %s (%s, %d records) are aligned by position but disagree in size; give them an id field, or fix the files", byIndex.Source, byIndex.Lang, byIndex.Total, s.Source, s.Lang, s.Total)
			}
			byIndex = s
		}
		p.Langs = append(p.Langs, s.Lang)
	}
	pos := map[string]int{}
	for _, s := range sets {
		for i := range s.Records {
			id := s.Records[i].ID
			if _, ok := pos[id]; !ok {
				pos[id] = len(p.IDs)
				p.IDs = append(p.IDs, id)
			}
		}
	}
	p.Recs = make([][]*Record, len(sets))
	for l, s := range sets {
		col := make([]*Record, len(p.IDs))
		for i := range s.Records {
			col[pos[s.Records[i].ID]] = &s.Records[i]
		}
		p.Recs[l] = col
	}
	return p, nil
}

// LangIndex returns the position of lang in p.Langs, or -1.
func (p *Parallel) LangIndex(lang string) int {
	for i, l := range p.Langs {
		if l == lang {
			return i
		}
	}
	return -1
}

// Coverage reports per language how many of the aligned items it has.
func (p *Parallel) Coverage() []Coverage {
	out := make([]Coverage, len(p.Langs))
	for l := range p.Langs {
		n := 0
		for _, r := range p.Recs[l] {
			if r != nil {
				n++
			}
		}
		s := p.Sets[l]
		out[l] = Coverage{Lang: p.Langs[l], Present: n, Items: len(p.IDs), Source: s.Source, Total: s.Total, Skipped: s.Skipped}
	}
	return out
}

// Complete is the number of items present in every language.
func (p *Parallel) Complete() int {
	n := 0
	for k := range p.IDs {
		all := true
		for l := range p.Langs {
			if p.Recs[l][k] == nil {
				all = false
				break
			}
		}
		if all {
			n++
		}
	}
	return n
}

// Sentences is multi-way parallel text (e.g. FLORES), used for translation
// data. Text[l][k] is sentence k in Langs[l]; "" means missing.
type Sentences struct {
	Source string
	Langs  []string
	IDs    []string
	Text   [][]string
	Lines  []int
}

// SentenceKey returns the JSON key holding lang's text in a multi-way file.
// Indonesian is stored under "id_ID" in SeaEval's FLORES export because "id"
// is the record id.
func SentenceKey(lang string) string {
	if lang == "id" {
		return "id_ID"
	}
	return lang
}

// LoadSentences reads a multi-way parallel JSONL file: one object a line
// with an "id" and one string field per language (see SentenceKey). Every
// requested language must occur in the file.
func LoadSentences(path string, langs []string) (*Sentences, error) {
	if len(langs) < 2 {
		return nil, fmt.Errorf("%s: translation data needs at least two languages, got %v", path, langs)
	}
	for _, l := range langs {
		if err := CheckLang(l); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := &Sentences{Source: path, Langs: langs, Text: make([][]string, len(langs))}
	seen := map[string]int{}
	found := make([]int, len(langs))
	for lineNo, line := range bytes.Split(data, []byte{'\n'}) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(line, &m); err != nil {
			return nil, &PosError{File: path, Line: lineNo + 1, Msg: fmt.Sprintf("malformed JSON: %v; expected one object a line like {\"id\": ..., \"en\": ..., \"zh\": ...}", err)}
		}
		var id string
		if raw, ok := m["id"]; ok {
			var r rawRecord
			if err := setID(raw, "id", &r); err != nil || r.idState != idPresent {
				return nil, &PosError{File: path, Line: lineNo + 1, Msg: "expected a non-null string or integer \"id\""}
			}
			id = r.id
		} else {
			id = itoa(len(s.IDs))
		}
		if prev, dup := seen[id]; dup {
			return nil, &PosError{File: path, Line: lineNo + 1, Msg: fmt.Sprintf("duplicate id %s (first at line %d)", id, prev)}
		}
		seen[id] = lineNo + 1
		s.IDs = append(s.IDs, id)
		s.Lines = append(s.Lines, lineNo+1)
		for l, lang := range langs {
			var t string
			if raw, ok := m[SentenceKey(lang)]; ok && string(raw) != "null" {
				if err := json.Unmarshal(raw, &t); err != nil {
					return nil, &PosError{File: path, Line: lineNo + 1, Msg: fmt.Sprintf("field %q: expected a string", SentenceKey(lang))}
				}
			}
			t = strings.TrimSpace(t)
			if t != "" {
				found[l]++
			}
			s.Text[l] = append(s.Text[l], t)
		}
	}
	if len(s.IDs) == 0 {
		return nil, &PosError{File: path, Msg: "no sentences"}
	}
	for l, n := range found {
		if n == 0 {
			return nil, &PosError{File: path, Msg: fmt.Sprintf("no %q text for language %s; check the language list", SentenceKey(langs[l]), langs[l])}
		}
	}
	return s, nil
}

// LangIndex returns the position of lang in s.Langs, or -1.
func (s *Sentences) LangIndex(lang string) int {
	for i, l := range s.Langs {
		if l == lang {
			return i
		}
	}
	return -1
}
