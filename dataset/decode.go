package dataset

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"unicode/utf8"
)

// span is one JSON value in the input: its byte range and starting line.
type span struct {
	start, end int
	line       int
}

// decodeJSONL decodes one object per non-blank line. Lines are decoded in
// parallel into fixed slots, so the result does not depend on scheduling.
func decodeJSONL(path string, data []byte, cfg *config) ([]rawRecord, error) {
	var spans []span
	line := 0
	for off := 0; off < len(data); {
		line++
		end := bytes.IndexByte(data[off:], '\n')
		next := len(data)
		if end >= 0 {
			next = off + end + 1
			end = off + end
		} else {
			end = len(data)
		}
		s, e := off, end
		for s < e && isSpace(data[s]) {
			s++
		}
		if line == 1 && e-s >= 3 && data[s] == 0xEF && data[s+1] == 0xBB && data[s+2] == 0xBF {
			s += 3
		}
		for e > s && isSpace(data[e-1]) {
			e--
		}
		if e > s {
			spans = append(spans, span{s, e, line})
		}
		off = next
	}
	return decodeSpans(path, data, spans, cfg)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// decodeArray splits a top-level JSON array into its elements with a small
// structural scanner (strings and nesting only; each element is then fully
// validated by encoding/json) and decodes them in parallel.
func decodeArray(path string, data []byte, cfg *config) ([]rawRecord, error) {
	i, line := 0, 1
	skip := func() {
		for i < len(data) {
			switch data[i] {
			case '\n':
				line++
			case ' ', '\t', '\r':
			default:
				if i == 0 && len(data) >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF {
					i += 2
					break
				}
				return
			}
			i++
		}
	}
	skip()
	if i >= len(data) || data[i] != '[' {
		return nil, &PosError{File: path, Line: line, Msg: "expected '[' starting a JSON array of records"}
	}
	i++
	var spans []span
	skip()
	if i < len(data) && data[i] == ']' {
		i++
	} else {
		for {
			skip()
			if i >= len(data) {
				return nil, &PosError{File: path, Line: line, Msg: "unexpected end of file inside the array; expected a record or ']'"}
			}
			if data[i] != '{' {
				return nil, &PosError{File: path, Line: line, Msg: fmt.Sprintf("expected '{' starting a record, found %q", data[i])}
			}
			start, startLine := i, line
			depth := 0
			inStr := false
		scan:
			for ; i < len(data); i++ {
				c := data[i]
				if inStr {
					switch c {
					case '\\':
						i++
					case '"':
						inStr = false
					case '\n':
						line++
					}
					continue
				}
				switch c {
				case '"':
					inStr = true
				case '{', '[':
					depth++
				case '}', ']':
					depth--
					if depth == 0 {
						i++
						break scan
					}
				case '\n':
					line++
				}
			}
			if depth != 0 {
				return nil, &PosError{File: path, Line: startLine, Msg: "record is not closed before the end of the file; expected '}'"}
			}
			spans = append(spans, span{start, i, startLine})
			skip()
			if i >= len(data) {
				return nil, &PosError{File: path, Line: line, Msg: "unexpected end of file; expected ',' or ']' after a record"}
			}
			if data[i] == ',' {
				i++
				continue
			}
			if data[i] == ']' {
				i++
				break
			}
			return nil, &PosError{File: path, Line: line, Msg: fmt.Sprintf("expected ',' or ']' after a record, found %q", data[i])}
		}
	}
	skip()
	if i < len(data) {
		return nil, &PosError{File: path, Line: line, Msg: "unexpected data after the closing ']' of the array"}
	}
	return decodeSpans(path, data, spans, cfg)
}

// decodeSpans decodes every span into its slot, in parallel chunks; the
// reported error is the one at the earliest line.
func decodeSpans(path string, data []byte, spans []span, cfg *config) ([]rawRecord, error) {
	out := make([]rawRecord, len(spans))
	workers := cfg.workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if workers > len(spans)/256+1 {
		workers = len(spans)/256 + 1
	}
	errs := make([]error, workers)
	var text string
	var valid bool
	if cfg.fields.isDefault() {
		text, valid = string(data), utf8.Valid(data)
	}
	var wg sync.WaitGroup
	chunk := (len(spans) + workers - 1) / workers
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, len(spans))
		if lo >= hi {
			break
		}
		wg.Add(1)
		go func(w, lo, hi int) {
			defer wg.Done()
			for k := lo; k < hi; k++ {
				sp := spans[k]
				if text != "" && fastDecodeString(text[sp.start:sp.end], valid, &out[k]) {
					out[k].line = sp.line
					continue
				}
				out[k] = rawRecord{}
				if err := decodeRecord(data[sp.start:sp.end], &cfg.fields, &out[k]); err != nil {
					errs[w] = &PosError{File: path, Line: sp.line + lineOffset(data[sp.start:sp.end], err), Msg: err.Error()}
					return
				}
				out[k].line = sp.line
			}
		}(w, lo, hi)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// lineOffset returns how many lines into a value an encoding/json error is.
func lineOffset(v []byte, err error) int {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off <= 0 {
		return 0
	}
	if off > int64(len(v)) {
		off = int64(len(v))
	}
	return bytes.Count(v[:off], []byte{'\n'})
}

// fastRecord decodes the common field names in one pass.
type fastRecord struct {
	ID          json.RawMessage `json:"id"`
	Instruction string          `json:"instruction"`
	Prompt      string          `json:"prompt"`
	Input       string          `json:"input"`
	Output      string          `json:"output"`
	Response    string          `json:"response"`
	Score       *float64        `json:"score"`
}

func decodeRecord(b []byte, f *Fields, r *rawRecord) error {
	if b[0] != '{' {
		return fmt.Errorf("expected a JSON object {\"instruction\": ..., \"input\": ..., \"output\": ...}, found %q", b[0])
	}
	if f.isDefault() {
		if fastDecode(b, r) {
			return nil
		}
		*r = rawRecord{}
		return decodeStd(b, r)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return describe(err)
	}
	str := func(name, def string, dst *string) error {
		if name == "" {
			name = def
		}
		raw, ok := m[name]
		if !ok || string(raw) == "null" {
			return nil
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return fmt.Errorf("field %q: expected a string, found %s", name, short(raw))
		}
		return nil
	}
	if err := str(f.Instruction, "instruction", &r.instruction); err != nil {
		return err
	}
	if err := str(f.Input, "input", &r.input); err != nil {
		return err
	}
	if err := str(f.Output, "output", &r.output); err != nil {
		return err
	}
	scoreName := f.Score
	if scoreName == "" {
		scoreName = "score"
	}
	if raw, ok := m[scoreName]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &r.score); err != nil {
			return fmt.Errorf("field %q: expected a number, found %s", scoreName, short(raw))
		}
		r.hasScore = true
	}
	idName := f.ID
	if idName == "" {
		idName = "id"
	}
	return setID(m[idName], idName, r)
}

// decodeStd decodes the default field names with encoding/json; it is the
// reference for fastDecode and the source of error messages.
func decodeStd(b []byte, r *rawRecord) error {
	var fr fastRecord
	if err := json.Unmarshal(b, &fr); err != nil {
		return describe(err)
	}
	r.instruction = fr.Instruction
	if r.instruction == "" {
		r.instruction = fr.Prompt
	}
	r.input = fr.Input
	r.output = fr.Output
	if r.output == "" {
		r.output = fr.Response
	}
	if fr.Score != nil {
		r.score, r.hasScore = *fr.Score, true
	}
	return setID(fr.ID, "id", r)
}

func setID(raw json.RawMessage, name string, r *rawRecord) error {
	if raw == nil {
		r.idState = idAbsent
		return nil
	}
	return setIDString(string(raw), name, r)
}

// setIDString interprets the raw JSON text of an id value.
func setIDString(raw string, name string, r *rawRecord) error {
	switch {
	case raw == "null":
		r.idState = idNull
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal([]byte(raw), &s); err != nil {
			return err
		}
		if s == "" {
			return fmt.Errorf("field %q is an empty string; expected a non-empty id", name)
		}
		r.id, r.idState = s, idPresent
	default:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("field %q: expected a string or a non-negative integer id, found %s", name, short([]byte(raw)))
		}
		r.id, r.idState = strconv.FormatInt(n, 10), idPresent
	}
	return nil
}

func describe(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("field %q: expected %s, found a JSON %s%w", te.Field, te.Type, te.Value, silent{err})
	}
	return fmt.Errorf("malformed JSON: %w", err)
}

func short(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

// silent wraps an error for errors.As without adding to the message.
type silent struct{ err error }

func (s silent) Error() string { return "" }
func (s silent) Unwrap() error { return s.err }
