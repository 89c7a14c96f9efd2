package tokenizer

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Decoding a 150k-entry vocabulary and merge list through encoding/json's
// reflection made loading Qwen's 11 MB tokenizer.json take seconds. The two
// big fields are therefore parsed by hand. encoding/json has validated the
// whole document before it calls UnmarshalJSON, so these scanners may
// assume well-formed JSON; they still never index out of range.

// vocabField is model.vocab: an object of token -> id for BPE. A list (as
// in Unigram files) is recorded, not rejected, so that loading can report
// the unsupported model type instead of a type error.
type vocabField struct {
	m      map[string]int32
	isList bool
}

func (v *vocabField) UnmarshalJSON(data []byte) error {
	p := jparser{data: data}
	p.ws()
	switch p.peek() {
	case '[':
		v.isList = true
		return nil
	case 'n':
		return nil
	case '{':
	default:
		return fmt.Errorf("want an object of token -> id")
	}
	p.i++
	v.m = make(map[string]int32, len(data)/16)
	for {
		p.ws()
		if p.peek() == '}' {
			return nil
		}
		key, err := p.str()
		if err != nil {
			return err
		}
		p.ws()
		if p.peek() != ':' {
			return fmt.Errorf("vocab: want ':' after %q", key)
		}
		p.i++
		p.ws()
		id, err := p.int32()
		if err != nil {
			return fmt.Errorf("vocab: token %q: %v", key, err)
		}
		v.m[key] = id
		p.ws()
		switch p.peek() {
		case ',':
			p.i++
		case '}':
			return nil
		default:
			return fmt.Errorf("vocab: want ',' or '}' after token %q", key)
		}
	}
}

// mergesField is model.merges in either format: ["a b", ...] or
// [["a", "b"], ...].
type mergesField struct {
	pairs [][2]string
	err   error // a malformed entry, reported with its index by the loader
}

func (m *mergesField) UnmarshalJSON(data []byte) error {
	p := jparser{data: data}
	p.ws()
	if p.peek() == 'n' {
		return nil
	}
	if p.peek() != '[' {
		return fmt.Errorf("want a list of merges")
	}
	p.i++
	for k := 0; ; k++ {
		p.ws()
		switch p.peek() {
		case ']':
			return nil
		case '"':
			s, err := p.str()
			if err != nil {
				return err
			}
			a, b, ok := cutSpace(s)
			if !ok && m.err == nil {
				m.err = fmt.Errorf("model.merges[%d]: %q is not \"left right\"", k, s)
			}
			m.pairs = append(m.pairs, [2]string{a, b})
		case '[':
			p.i++
			var pair []string
			for {
				p.ws()
				if p.peek() == ']' {
					p.i++
					break
				}
				s, err := p.str()
				if err != nil {
					return fmt.Errorf("model.merges[%d]: %v", k, err)
				}
				pair = append(pair, s)
				p.ws()
				if p.peek() == ',' {
					p.i++
				}
			}
			if len(pair) != 2 && m.err == nil {
				m.err = fmt.Errorf("model.merges[%d]: want 2 tokens, got %d", k, len(pair))
			}
			var two [2]string
			copy(two[:], pair)
			m.pairs = append(m.pairs, two)
		default:
			return fmt.Errorf("model.merges[%d]: want a string or a pair of strings", k)
		}
		p.ws()
		switch p.peek() {
		case ',':
			p.i++
		case ']':
			return nil
		default:
			return fmt.Errorf("model.merges[%d]: want ',' or ']'", k)
		}
	}
}

func cutSpace(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

type jparser struct {
	data []byte
	i    int
}

func (p *jparser) peek() byte {
	if p.i < len(p.data) {
		return p.data[p.i]
	}
	return 0
}

func (p *jparser) ws() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// str reads a JSON string; escaped ones go through encoding/json.
func (p *jparser) str() (string, error) {
	if p.peek() != '"' {
		return "", fmt.Errorf("want a string at byte %d", p.i)
	}
	start := p.i
	esc := false
	j := p.i + 1
	for j < len(p.data) && p.data[j] != '"' {
		if p.data[j] == '\\' {
			esc = true
			j++
		}
		j++
	}
	if j >= len(p.data) {
		return "", fmt.Errorf("unterminated string at byte %d", start)
	}
	p.i = j + 1
	if !esc {
		return string(p.data[start+1 : j]), nil
	}
	var s string
	if err := json.Unmarshal(p.data[start:j+1], &s); err != nil {
		return "", err
	}
	return s, nil
}

func (p *jparser) int32() (int32, error) {
	start := p.i
	for p.i < len(p.data) {
		c := p.data[p.i]
		if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			p.i++
			continue
		}
		break
	}
	n, err := strconv.ParseInt(string(p.data[start:p.i]), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("want an integer id, got %q", p.data[start:p.i])
	}
	return int32(n), nil
}
