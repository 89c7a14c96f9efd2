package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/crossin-lab/crossin/atomicfile"
)

// Prediction is one line of a predictions file: a model's answers to one
// question in every evaluated language.
//
// The predictions file is JSONL, one question per line, keyed by the
// benchmark's question id and SeaEval's language names:
//
//	{"id": "test_1",
//	 "English": "<raw model output>", "Chinese": "<raw model output>", ...,
//	 "loglik":  {"English": [-4.1, -0.7, -6.3, -2.2], "Chinese": [...]},
//	 "ntokens": {"English": [3, 2, 5, 2], "Chinese": [...]}}
//
// Fields:
//
//   - Every key other than "id", "loglik" and "ntokens" is a language name
//     whose value is the raw generated text (generate mode). It may be ""
//     in loglik mode.
//   - "loglik" (loglik mode only) maps a language to the log-likelihood of
//     each option, in option order (A, B, C, D): the sum over the option's
//     tokens of log p(token | prompt, previous option tokens), natural log.
//     The option continuation is the full choice string ("(A) responsible").
//   - "ntokens" (optional, needed for per-token normalisation) maps a
//     language to the number of tokens of each option.
//
// The language keys are kept in file order: SeaEval takes the order of its
// languages, and so the names of its consistency subsets, from the first
// record.
type Prediction struct {
	ID        string
	Languages []string
	Output    map[string]string
	LogLik    map[string][]float64
	NTokens   map[string][]int
	// Line is the 1-based line in the file it was read from.
	Line int
}

// Reserved keys of a predictions line.
const (
	KeyID      = "id"
	KeyLogLik  = "loglik"
	KeyNTokens = "ntokens"
)

// ReadPredictions reads a predictions file. Errors name file:line.
func ReadPredictions(path string) ([]*Prediction, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read predictions: %w", err)
	}
	defer f.Close()
	return ParsePredictions(f, path)
}

// ParsePredictions reads predictions JSONL from r; name is used in errors.
// It rejects bad JSON, lines without an id, repeated ids and values of the
// wrong type, each with name:line.
func ParsePredictions(r io.Reader, name string) ([]*Prediction, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 256<<20)
	var out []*Prediction
	seen := map[string]int{}
	line := 0
	for sc.Scan() {
		line++
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		p, err := parsePrediction(raw)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if prev, dup := seen[p.ID]; dup {
			return nil, fmt.Errorf("%s:%d: duplicate id %q (first on line %d)", name, line, p.ID, prev)
		}
		seen[p.ID] = line
		p.Line = line
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no predictions; expected one JSON object per line like {\"id\": \"test_1\", \"English\": \"(A)\"}", name)
	}
	return out, nil
}

func parsePrediction(raw []byte) (*Prediction, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("bad JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("expected a JSON object like {\"id\": \"test_1\", \"English\": \"...\"}, got %v", tok)
	}
	p := &Prediction{Output: map[string]string{}}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("bad JSON: %v", err)
		}
		key := kt.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("bad JSON in %q: %v", key, err)
		}
		switch key {
		case KeyID:
			var id any
			if err := json.Unmarshal(v, &id); err != nil {
				return nil, fmt.Errorf("bad JSON in \"id\": %v", err)
			}
			switch x := id.(type) {
			case string:
				p.ID = x
			case float64:
				p.ID = fmt.Sprint(x)
			default:
				return nil, fmt.Errorf("\"id\" must be a string, got %s", v)
			}
		case KeyLogLik:
			if err := json.Unmarshal(v, &p.LogLik); err != nil {
				return nil, fmt.Errorf("\"loglik\" must map languages to arrays of numbers: %v", err)
			}
		case KeyNTokens:
			if err := json.Unmarshal(v, &p.NTokens); err != nil {
				return nil, fmt.Errorf("\"ntokens\" must map languages to arrays of integers: %v", err)
			}
		default:
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, fmt.Errorf("language %q: expected the raw model output as a string, got %s", key, abbrev(v))
			}
			if _, dup := p.Output[key]; dup {
				return nil, fmt.Errorf("language %q appears twice", key)
			}
			p.Output[key] = s
			p.Languages = append(p.Languages, key)
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("bad JSON: %v", err)
	}
	if dec.More() {
		return nil, errors.New("bad JSON: trailing data after the object")
	}
	if p.ID == "" {
		return nil, errors.New("missing \"id\" (the benchmark question id, like \"test_1\")")
	}
	// Languages that only have log-likelihoods still count, after the
	// ones with text, in sorted order (JSON objects decoded into maps
	// lose their order).
	var extra []string
	for l := range p.LogLik {
		if _, ok := p.Output[l]; !ok {
			extra = append(extra, l)
		}
	}
	sort.Strings(extra)
	for _, l := range extra {
		p.Output[l] = ""
		p.Languages = append(p.Languages, l)
	}
	return p, nil
}

func abbrev(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

// MarshalJSON writes the prediction with "id" first, then the languages in
// order, then "loglik" and "ntokens" when present.
func (p *Prediction) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(`{"id":`)
	id, _ := marshalNoEscape(p.ID)
	buf.Write(id)
	for _, l := range p.Languages {
		k, _ := marshalNoEscape(l)
		v, _ := marshalNoEscape(p.Output[l])
		buf.WriteByte(',')
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(v)
	}
	if len(p.LogLik) > 0 {
		buf.WriteString(`,"loglik":{`)
		for i, l := range p.orderedKeys(len(p.LogLik), func(l string) bool { _, ok := p.LogLik[l]; return ok }) {
			if i > 0 {
				buf.WriteByte(',')
			}
			k, _ := marshalNoEscape(l)
			v, err := marshalNoEscape(p.LogLik[l])
			if err != nil {
				return nil, fmt.Errorf("question %s, %s: %w", p.ID, l, err)
			}
			buf.Write(k)
			buf.WriteByte(':')
			buf.Write(v)
		}
		buf.WriteByte('}')
	}
	if len(p.NTokens) > 0 {
		buf.WriteString(`,"ntokens":{`)
		for i, l := range p.orderedKeys(len(p.NTokens), func(l string) bool { _, ok := p.NTokens[l]; return ok }) {
			if i > 0 {
				buf.WriteByte(',')
			}
			k, _ := marshalNoEscape(l)
			v, _ := marshalNoEscape(p.NTokens[l])
			buf.Write(k)
			buf.WriteByte(':')
			buf.Write(v)
		}
		buf.WriteByte('}')
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// orderedKeys lists the languages accepted by has in p.Languages order;
// keys not in p.Languages follow in sorted order (so output never depends
// on map order).
func (p *Prediction) orderedKeys(n int, has func(string) bool) []string {
	var out []string
	in := map[string]bool{}
	for _, l := range p.Languages {
		if has(l) {
			out = append(out, l)
			in[l] = true
		}
	}
	var rest []string
	collect := func(m map[string]bool) {
		for l := range m {
			if !in[l] && has(l) {
				rest = append(rest, l)
			}
		}
	}
	all := map[string]bool{}
	for l := range p.LogLik {
		all[l] = true
	}
	for l := range p.NTokens {
		all[l] = true
	}
	collect(all)
	sort.Strings(rest)
	return append(out, rest...)
}

// WritePredictions writes predictions as JSONL to w.
func WritePredictions(w io.Writer, preds []*Prediction) error {
	bw := bufio.NewWriter(w)
	for _, p := range preds {
		b, err := p.MarshalJSON()
		if err != nil {
			return err
		}
		bw.Write(b)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// SavePredictions writes predictions to path atomically.
func SavePredictions(path string, preds []*Prediction) error {
	return atomicfile.WriteFunc(path, 0o644, func(w io.Writer) error { return WritePredictions(w, preds) })
}
