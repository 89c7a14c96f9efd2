package dataset

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// fastDecode decodes the flat record objects of instruction data
// ({"id": 1, "instruction": "...", ...}: string, number, bool and null
// values) without reflection, which makes loading several times faster than
// encoding/json. It reports false for anything it does not fully handle
// (nested values, keys differing only in case from a known key, malformed
// input), and the caller then decodes with encoding/json, which has the final
// say on both values and error messages. Its results are tested to equal
// encoding/json's on the shared data and on edge cases.
func fastDecode(b []byte, r *rawRecord) bool {
	return fastDecodeString(string(b), utf8.Valid(b), r)
}

// fastDecodeString is fastDecode over a string that is a slice of the whole
// file's text, so decoded strings without escapes share its memory instead
// of being copied one by one; valid says the whole file is valid UTF-8,
// which makes per-string validation unnecessary.
func fastDecodeString(b string, valid bool, r *rawRecord) bool {
	p := parser{b: b, valid: valid}
	p.ws()
	if !p.eat('{') {
		return false
	}
	var rawID string
	hasID := false
	var instr, prompt, output, response string
	p.ws()
	if p.eat('}') {
		return p.end(r, rawID, hasID, instr, prompt, output, response)
	}
	for {
		p.ws()
		key, ok := p.str()
		if !ok {
			return false
		}
		p.ws()
		if !p.eat(':') {
			return false
		}
		p.ws()
		switch key {
		case "instruction", "prompt", "input", "output", "response":
			if p.peek() == 'n' {
				if !p.lit("null") {
					return false
				}
				// encoding/json leaves the field unchanged on null.
				break
			}
			s, ok := p.str()
			if !ok {
				return false
			}
			switch key {
			case "instruction":
				instr = s
			case "prompt":
				prompt = s
			case "input":
				r.input = s
			case "output":
				output = s
			case "response":
				response = s
			}
		case "id":
			start := p.i
			if !p.scalar() {
				return false
			}
			rawID, hasID = b[start:p.i], true
		case "score":
			start := p.i
			if p.peek() == 'n' {
				if !p.lit("null") {
					return false
				}
				r.score, r.hasScore = 0, false
				break
			}
			if !p.number() {
				return false
			}
			f, err := strconv.ParseFloat(b[start:p.i], 64)
			if err != nil {
				return false
			}
			r.score, r.hasScore = f, true
		default:
			if foldsToKnown(key) {
				return false
			}
			if !p.scalar() {
				return false
			}
		}
		p.ws()
		if p.eat(',') {
			continue
		}
		if p.eat('}') {
			break
		}
		return false
	}
	return p.end(r, rawID, hasID, instr, prompt, output, response)
}

func (p *parser) end(r *rawRecord, rawID string, hasID bool, instr, prompt, output, response string) bool {
	p.ws()
	if p.i != len(p.b) {
		return false
	}
	r.instruction = instr
	if r.instruction == "" {
		r.instruction = prompt
	}
	r.output = output
	if r.output == "" {
		r.output = response
	}
	if hasID {
		return setIDString(rawID, "id", r) == nil
	}
	r.idState = idAbsent
	return true
}

// foldsToKnown reports whether key would match a known field under
// encoding/json's case-insensitive matching without being spelled exactly.
func foldsToKnown(key string) bool {
	for _, k := range [...]string{"id", "instruction", "prompt", "input", "output", "response", "score"} {
		if len(k) == len(key) && equalFoldASCII(k, key) {
			return true
		}
	}
	// Non-ASCII keys could fold onto ASCII ones (e.g. the Kelvin sign).
	for i := 0; i < len(key); i++ {
		if key[i] >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

func equalFoldASCII(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

type parser struct {
	b     string
	i     int
	valid bool // the whole input is valid UTF-8
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *parser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *parser) lit(s string) bool {
	if len(p.b)-p.i >= len(s) && p.b[p.i:p.i+len(s)] == s {
		p.i += len(s)
		return true
	}
	return false
}

// scalar skips a string, number, true, false or null.
func (p *parser) scalar() bool {
	switch c := p.peek(); {
	case c == '"':
		_, ok := p.str()
		return ok
	case c == 't':
		return p.lit("true")
	case c == 'f':
		return p.lit("false")
	case c == 'n':
		return p.lit("null")
	default:
		return p.number()
	}
}

// number scans a JSON number with the grammar's exact rules.
func (p *parser) number() bool {
	start := p.i
	p.eat('-')
	switch {
	case p.eat('0'):
	case p.i < len(p.b) && p.b[p.i] >= '1' && p.b[p.i] <= '9':
		p.digits()
	default:
		return false
	}
	if p.eat('.') {
		if p.digits() == 0 {
			return false
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.i++
		if c := p.peek(); c == '+' || c == '-' {
			p.i++
		}
		if p.digits() == 0 {
			return false
		}
	}
	return p.i > start
}

func (p *parser) digits() int {
	n := 0
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}

// str decodes a JSON string as encoding/json does: escapes resolved, lone
// surrogates and invalid UTF-8 replaced by U+FFFD.
func (p *parser) str() (string, bool) {
	if !p.eat('"') {
		return "", false
	}
	start := p.i
	// Fast scan: no escapes, ASCII or valid UTF-8, no control characters.
	var high byte
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			if high >= utf8.RuneSelf && !p.valid && !utf8.ValidString(s) {
				return string([]rune(s)), true // invalid bytes become U+FFFD
			}
			return s, true
		case c == '\\':
			return p.strSlow(start)
		case c < 0x20:
			return "", false
		}
		high |= c
		p.i++
	}
	return "", false
}

func (p *parser) strSlow(start int) (string, bool) {
	out := make([]byte, 0, p.i-start+64)
	out = append(out, p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			if !p.valid && !utf8.Valid(out) {
				return string([]rune(string(out))), true
			}
			return string(out), true
		case c < 0x20:
			return "", false
		case c != '\\':
			// Copy the run up to the next quote, backslash or control byte.
			j := p.i + 1
			for j < len(p.b) && p.b[j] != '"' && p.b[j] != '\\' && p.b[j] >= 0x20 {
				j++
			}
			out = append(out, p.b[p.i:j]...)
			p.i = j
			continue
		}
		p.i++
		if p.i >= len(p.b) {
			return "", false
		}
		e := p.b[p.i]
		p.i++
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r1, ok := p.hex4()
			if !ok {
				return "", false
			}
			if utf16.IsSurrogate(r1) {
				// A valid pair is \uD8xx\uDCxx; anything else is U+FFFD.
				save := p.i
				if p.lit(`\u`) {
					if r2, ok := p.hex4(); ok {
						if dec := utf16.DecodeRune(r1, r2); dec != utf8.RuneError {
							out = utf8.AppendRune(out, dec)
							continue
						}
					}
				}
				p.i = save
				r1 = utf8.RuneError
			}
			out = utf8.AppendRune(out, r1)
		default:
			return "", false
		}
	}
	return "", false
}

func (p *parser) hex4() (rune, bool) {
	if len(p.b)-p.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range []byte(p.b[p.i : p.i+4]) {
		r <<= 4
		switch {
		case '0' <= c && c <= '9':
			r |= rune(c - '0')
		case 'a' <= c && c <= 'f':
			r |= rune(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	p.i += 4
	return r, true
}
