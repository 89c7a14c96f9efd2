package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// pretokenizer splits pieces into words (Hugging Face pre_tokenizer). It
// appends the words of one piece to dst.
type pretokenizer interface {
	split(dst []nstr, n nstr) []nstr
}

type preSeq []pretokenizer

func (s preSeq) split(dst []nstr, n nstr) []nstr {
	cur := []nstr{n}
	var next []nstr
	for _, p := range s {
		next = next[:0]
		for _, w := range cur {
			next = p.split(next, w)
		}
		cur, next = next, cur
	}
	return append(dst, cur...)
}

// behavior is a SplitDelimiterBehavior.
type behavior int

const (
	bRemoved behavior = iota
	bIsolated
	bMergedWithPrevious
	bMergedWithNext
	bContiguous
)

var behaviors = map[string]behavior{
	"Removed":            bRemoved,
	"Isolated":           bIsolated,
	"MergedWithPrevious": bMergedWithPrevious,
	"MergedWithNext":     bMergedWithNext,
	"Contiguous":         bContiguous,
}

type part struct {
	i, j  int
	match bool
}

// splitBy cuts n at the given matches (sorted, non-overlapping byte ranges)
// following Hugging Face's NormalizedString::split exactly, and appends the
// non-empty results to dst.
func splitBy(dst []nstr, n nstr, ms [][2]int, invert bool, b behavior) []nstr {
	// Alternate non-matches and matches covering all of n.
	parts := make([]part, 0, 2*len(ms)+1)
	prev := 0
	for _, m := range ms {
		if prev != m[0] {
			parts = append(parts, part{prev, m[0], false})
		}
		parts = append(parts, part{m[0], m[1], true})
		prev = m[1]
	}
	if prev != len(n.s) {
		parts = append(parts, part{prev, len(n.s), false})
	}
	if invert {
		for k := range parts {
			parts[k].match = !parts[k].match
		}
	}
	var out []part // match now means "remove"
	switch b {
	case bIsolated:
		out = parts
		for k := range out {
			out[k].match = false
		}
	case bRemoved:
		out = parts
	case bContiguous:
		prevMatch := false
		for _, p := range parts {
			if p.match == prevMatch && len(out) > 0 {
				out[len(out)-1].j = p.j
			} else {
				out = append(out, part{p.i, p.j, false})
			}
			prevMatch = p.match
		}
	case bMergedWithPrevious:
		prevMatch := false
		for _, p := range parts {
			if p.match && !prevMatch && len(out) > 0 {
				out[len(out)-1].j = p.j
			} else {
				out = append(out, part{p.i, p.j, false})
			}
			prevMatch = p.match
		}
	case bMergedWithNext:
		prevMatch := false
		for k := len(parts) - 1; k >= 0; k-- {
			p := parts[k]
			if p.match && !prevMatch && len(out) > 0 {
				out[len(out)-1].i = p.i
			} else {
				out = append(out, part{p.i, p.j, false})
			}
			prevMatch = p.match
		}
		for a, z := 0, len(out)-1; a < z; a, z = a+1, z-1 {
			out[a], out[z] = out[z], out[a]
		}
	}
	for _, p := range out {
		if !p.match && p.j > p.i {
			dst = append(dst, n.sub(p.i, p.j))
		}
	}
	return dst
}

// splitPre is the "Split" pre-tokenizer with a literal or regex pattern.
type splitPre struct {
	lit    string
	re     *regexp2.Regexp
	fast   func(s string, dst [][2]int) [][2]int // hand-written matcher for a known regex
	b      behavior
	invert bool
}

func (p *splitPre) split(dst []nstr, n nstr) []nstr {
	var ms [][2]int
	switch {
	case p.fast != nil:
		ms = p.fast(n.s, nil)
	case p.re != nil:
		ms = regexMatches(p.re, n.s)
	default:
		ms = replaceNorm{lit: p.lit}.matches(n.s)
	}
	return splitBy(dst, n, ms, p.invert, p.b)
}

// funcPre splits on chars chosen by a predicate (WhitespaceSplit, Digits,
// Punctuation).
type funcPre struct {
	is func(rune) bool
	b  behavior
}

func (p funcPre) split(dst []nstr, n nstr) []nstr {
	var ms [][2]int
	for i, r := range n.s {
		if p.is(r) {
			ms = append(ms, [2]int{i, i + utf8.RuneLen(r)})
		}
	}
	return splitBy(dst, n, ms, false, p.b)
}

// byteLevelPre is the ByteLevel pre-tokenizer: optional prefix space,
// optional GPT-2 regex split, then the byte-to-char mapping.
type byteLevelPre struct {
	prefixSpace bool
	regex       *splitPre // nil when use_regex is false
}

func (p byteLevelPre) split(dst []nstr, n nstr) []nstr {
	if p.prefixSpace && !strings.HasPrefix(n.s, " ") {
		n = prependNorm{" "}.normalize(n)
	}
	start := len(dst)
	if p.regex != nil {
		dst = p.regex.split(dst, n)
	} else {
		dst = append(dst, n)
	}
	for k := start; k < len(dst); k++ {
		dst[k] = byteLevelMap(dst[k])
	}
	return dst
}

// prependScheme says where Metaspace adds its replacement char.
type prependScheme int

const (
	prependAlways prependScheme = iota
	prependFirst
	prependNever
)

// metaspacePre is the Metaspace pre-tokenizer (older Llama/Mistral files):
// spaces become the replacement char, which is prepended, and the text is
// split before each replacement char.
type metaspacePre struct {
	repl   string
	scheme prependScheme
	split_ bool
}

func (p metaspacePre) split(dst []nstr, n nstr) []nstr {
	n = replaceNorm{lit: " ", content: p.repl}.normalize(n)
	if !strings.HasPrefix(n.s, p.repl) {
		if p.scheme == prependAlways || (p.scheme == prependFirst && n.first) {
			n = prependNorm{p.repl}.normalize(n)
		}
	}
	if !p.split_ {
		return append(dst, n)
	}
	ms := replaceNorm{lit: p.repl}.matches(n.s)
	return splitBy(dst, n, ms, false, bMergedWithNext)
}

// whitespacePre is the "Whitespace" pre-tokenizer: \w+|[^\w\s]+ runs.
type whitespacePre struct{}

// isWordChar is Rust regex's Unicode \w: alphabetic (letters, Nl and the
// marks), decimal digits, connector punctuation and the join controls.
func isWordChar(r rune) bool {
	return unicode.IsLetter(r) || unicode.Is(unicode.Nl, r) || unicode.IsMark(r) ||
		unicode.Is(unicode.Nd, r) || unicode.Is(unicode.Pc, r) || r == 0x200C || r == 0x200D
}

func (whitespacePre) split(dst []nstr, n nstr) []nstr {
	// Collect runs of word chars and runs of other non-space chars.
	var ms [][2]int
	cls := -1
	for i, r := range n.s {
		c := 2
		if unicode.IsSpace(r) {
			c = 0
		} else if isWordChar(r) {
			c = 1
		}
		if c != 0 && c == cls && len(ms) > 0 {
			ms[len(ms)-1][1] = i + utf8.RuneLen(r)
		} else if c != 0 {
			ms = append(ms, [2]int{i, i + utf8.RuneLen(r)})
		}
		cls = c
	}
	return splitBy(dst, n, ms, true, bRemoved)
}

func isPunct(r rune) bool {
	if r < 128 {
		return (r >= 33 && r <= 47) || (r >= 58 && r <= 64) || (r >= 91 && r <= 96) || (r >= 123 && r <= 126)
	}
	return unicode.IsPunct(r)
}

func isNumeric(r rune) bool { return unicode.IsNumber(r) }
