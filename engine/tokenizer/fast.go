package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// The pre-tokenizer regexes of GPT-2 (ByteLevel use_regex), Qwen2/3 and
// Llama-3 are matched by hand here: regexp2 backtracks over a []rune copy
// and allocates per match, which made it most of the encoding time. Each
// function follows the regex's alternation order and backtracking exactly;
// fast_test.go checks them against regexp2 on random and reference text.
const (
	qwenPattern   = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// fastSplitter returns a hand-written matcher equivalent to the regex p when
// p is one of the well-known pre-tokenizer patterns, else nil.
func fastSplitter(p *string) func(s string, dst [][2]int) [][2]int {
	if p == nil {
		return nil
	}
	switch *p {
	case gpt2Pattern:
		return gpt2Matches
	case qwenPattern:
		return func(s string, dst [][2]int) [][2]int { return modernMatches(s, dst, 1) }
	case llama3Pattern:
		return func(s string, dst [][2]int) [][2]int { return modernMatches(s, dst, 3) }
	}
	return nil
}

func isL(r rune) bool {
	if r < 0x80 {
		return r|0x20 >= 'a' && r|0x20 <= 'z'
	}
	return unicode.IsLetter(r)
}

func isN(r rune) bool {
	if r < 0x80 {
		return r >= '0' && r <= '9'
	}
	return unicode.IsNumber(r)
}

func isS(r rune) bool {
	if r < 0x80 {
		return r == ' ' || (r >= '\t' && r <= '\r')
	}
	return unicode.IsSpace(r)
}

func runeAt(s string, i int) (rune, int) {
	if i >= len(s) {
		return -1, 0
	}
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// runEnd returns the end of the run of chars satisfying f starting at i.
func runEnd(s string, i int, f func(rune) bool) int {
	for i < len(s) {
		r, n := runeAt(s, i)
		if !f(r) {
			break
		}
		i += n
	}
	return i
}

func isOther(r rune) bool { return r >= 0 && !isS(r) && !isL(r) && !isN(r) }

// foldEq reports whether r case-folds to the ASCII lowercase letter c, as
// Oniguruma's (?i) does (which also folds U+017F LONG S to s).
func foldEq(r rune, c byte, ci bool) bool {
	if rune(c) == r {
		return true
	}
	if !ci {
		return false
	}
	if r == rune(c-32) {
		return true
	}
	return c == 's' && r == 'ſ'
}

// contraction matches 's|'t|'re|'ve|'m|'ll|'d at i (s[i] == '\”).
func contraction(s string, i int, ci bool) int {
	r1, n1 := runeAt(s, i+1)
	if n1 == 0 {
		return -1
	}
	for _, c := range []byte{'s', 't'} {
		if foldEq(r1, c, ci) {
			return i + 1 + n1
		}
	}
	r2, n2 := runeAt(s, i+1+n1)
	for _, p := range [][2]byte{{'r', 'e'}, {'v', 'e'}} {
		if foldEq(r1, p[0], ci) && n2 > 0 && foldEq(r2, p[1], ci) {
			return i + 1 + n1 + n2
		}
	}
	if foldEq(r1, 'm', ci) {
		return i + 1 + n1
	}
	if foldEq(r1, 'l', ci) && n2 > 0 && foldEq(r2, 'l', ci) {
		return i + 1 + n1 + n2
	}
	if foldEq(r1, 'd', ci) {
		return i + 1 + n1
	}
	return -1
}

// spaceTail handles \s*[\r\n]+ (when crlf), then \s+(?!\S), then \s+ for a
// whitespace run starting at i.
func spaceTail(s string, i int, crlf bool) int {
	e := i
	last := -1     // end of the last CR/LF in the run
	lastStart := i // start of the last rune of the run
	runes := 0
	for e < len(s) {
		r, n := runeAt(s, e)
		if !isS(r) {
			break
		}
		if r == '\r' || r == '\n' {
			last = e + n
		}
		lastStart = e
		e += n
		runes++
	}
	if crlf && last >= 0 {
		return last
	}
	if e == len(s) {
		return e
	}
	if runes >= 2 {
		return lastStart
	}
	return e
}

// modernMatches is the Qwen2/3 (digits = 1) and Llama-3 (digits = 3) regex.
func modernMatches(s string, dst [][2]int, digits int) [][2]int {
	for i := 0; i < len(s); {
		end := modernAt(s, i, digits)
		dst = append(dst, [2]int{i, end})
		i = end
	}
	return dst
}

func modernAt(s string, i, digits int) int {
	r, n := runeAt(s, i)
	if r == '\'' {
		if e := contraction(s, i, true); e >= 0 {
			return e
		}
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if isL(r) {
		return runEnd(s, i+n, isL)
	}
	if r != '\r' && r != '\n' && !isN(r) {
		if r2, _ := runeAt(s, i+n); r2 >= 0 && isL(r2) {
			return runEnd(s, i+n, isL)
		}
	}
	// \p{N}{1,digits}
	if isN(r) {
		e := i + n
		for k := 1; k < digits; k++ {
			r2, n2 := runeAt(s, e)
			if n2 == 0 || !isN(r2) {
				break
			}
			e += n2
		}
		return e
	}
	//  ?[^\s\p{L}\p{N}]+[\r\n]*
	j := i
	if r == ' ' {
		j = i + 1
	}
	if r2, _ := runeAt(s, j); isOther(r2) {
		e := runEnd(s, j, isOther)
		return runEnd(s, e, func(r rune) bool { return r == '\r' || r == '\n' })
	}
	// r is whitespace here.
	return spaceTail(s, i, true)
}

// gpt2Matches is the GPT-2 ByteLevel regex.
func gpt2Matches(s string, dst [][2]int) [][2]int {
	for i := 0; i < len(s); {
		end := gpt2At(s, i)
		dst = append(dst, [2]int{i, end})
		i = end
	}
	return dst
}

func gpt2At(s string, i int) int {
	r, n := runeAt(s, i)
	if r == '\'' {
		if e := contraction(s, i, false); e >= 0 {
			return e
		}
	}
	j := i
	if r == ' ' {
		j = i + 1
	}
	r2, _ := runeAt(s, j)
	switch {
	case isL(r2):
		return runEnd(s, j, isL)
	case isN(r2):
		return runEnd(s, j, isN)
	case isOther(r2):
		return runEnd(s, j, isOther)
	}
	_ = n
	return spaceTail(s, i, false)
}
