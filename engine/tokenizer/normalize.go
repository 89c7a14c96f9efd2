package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
	"golang.org/x/text/unicode/norm"
)

// span is a byte range [start, end) of the original input text.
type span struct{ start, end int32 }

// nstr is a piece of text on its way through the pipeline (Hugging Face's
// NormalizedString): the current bytes, and, when offsets are wanted, for
// every byte the span of the original text it came from. Offsets are only
// tracked on request because the alignment slice costs as much as the text.
type nstr struct {
	s     string
	al    []span // nil when offsets are not tracked
	first bool   // the piece starts at original offset 0 (Metaspace "first")
}

// sub returns the bytes [i, j) of n as a new piece.
func (n nstr) sub(i, j int) nstr {
	r := nstr{s: n.s[i:j], first: n.first && i == 0}
	if n.al != nil {
		r.al = n.al[i:j]
	}
	return r
}

// spanOf returns the original span covered by the bytes [i, j) of n.
func (n nstr) spanOf(i, j int) span {
	if len(n.al) == 0 {
		return span{}
	}
	if j <= i {
		if i >= len(n.al) {
			e := n.al[len(n.al)-1].end
			return span{e, e}
		}
		s := n.al[i].start
		return span{s, s}
	}
	return span{n.al[i].start, n.al[j-1].end}
}

// origPiece makes a piece of the original text [i, j): every byte is aligned
// with the whole character it belongs to, as Hugging Face does.
func origPiece(text string, i, j int, track bool) nstr {
	n := nstr{s: text[i:j], first: i == 0}
	if !track {
		return n
	}
	n.al = make([]span, j-i)
	for k := i; k < j; {
		_, size := utf8.DecodeRuneInString(text[k:j])
		sp := span{int32(k), int32(k + size)}
		for m := 0; m < size; m++ {
			n.al[k-i+m] = sp
		}
		k += size
	}
	return n
}

// builder assembles a transformed piece, keeping the alignment when tracked.
type builder struct {
	b     []byte
	al    []span
	track bool
}

func newBuilder(n nstr, extra int) *builder {
	w := &builder{b: make([]byte, 0, len(n.s)+extra), track: n.al != nil}
	if w.track {
		w.al = make([]span, 0, len(n.s)+extra)
	}
	return w
}

// add appends s, every byte of it aligned to sp.
func (w *builder) add(s string, sp span) {
	w.b = append(w.b, s...)
	if w.track {
		for range len(s) {
			w.al = append(w.al, sp)
		}
	}
}

// copy appends the bytes [i, j) of n unchanged.
func (w *builder) copy(n nstr, i, j int) {
	w.b = append(w.b, n.s[i:j]...)
	if w.track {
		w.al = append(w.al, n.al[i:j]...)
	}
}

func (w *builder) done(first bool) nstr {
	n := nstr{s: string(w.b), first: first}
	if w.track {
		n.al = w.al
	}
	return n
}

// normalizer is one step of a tokenizer.json "normalizer".
type normalizer interface {
	normalize(n nstr) nstr
}

type normSeq []normalizer

func (s normSeq) normalize(n nstr) nstr {
	for _, x := range s {
		n = x.normalize(n)
	}
	return n
}

// unicodeNorm is NFC/NFD/NFKC/NFKD. Unchanged segments keep their exact
// alignment; a recomposed segment is aligned as a whole to its source.
type unicodeNorm struct{ f norm.Form }

func (u unicodeNorm) normalize(n nstr) nstr {
	if u.f.IsNormalString(n.s) {
		return n
	}
	w := newBuilder(n, 8)
	var it norm.Iter
	it.InitString(u.f, n.s)
	for !it.Done() {
		start := it.Pos()
		seg := it.Next()
		end := it.Pos()
		if string(seg) == n.s[start:end] {
			w.copy(n, start, end)
			continue
		}
		w.add(string(seg), n.spanOf(start, end))
	}
	return w.done(n.first)
}

// prependNorm is the "Prepend" normalizer (newer Llama/Mistral files): the
// prefix is added to every non-empty piece, aligned with its first char.
type prependNorm struct{ p string }

func (p prependNorm) normalize(n nstr) nstr {
	if n.s == "" {
		return n
	}
	w := newBuilder(n, len(p.p))
	_, size := utf8.DecodeRuneInString(n.s)
	w.add(p.p, n.spanOf(0, size))
	w.copy(n, 0, len(n.s))
	return w.done(n.first)
}

// replaceNorm is the "Replace" normalizer with a literal or regex pattern.
type replaceNorm struct {
	lit     string
	re      *regexp2.Regexp
	content string
}

func (r replaceNorm) normalize(n nstr) nstr {
	ms := r.matches(n.s)
	if len(ms) == 0 {
		return n
	}
	w := newBuilder(n, len(ms)*len(r.content))
	prev := 0
	for _, m := range ms {
		w.copy(n, prev, m[0])
		if m[1] > m[0] {
			w.add(r.content, n.spanOf(m[0], m[1]))
		}
		prev = m[1]
	}
	w.copy(n, prev, len(n.s))
	return w.done(n.first)
}

// matches returns the byte ranges of the non-overlapping matches in s.
func (r replaceNorm) matches(s string) [][2]int {
	if r.re != nil {
		return regexMatches(r.re, s)
	}
	if r.lit == "" {
		return nil
	}
	var out [][2]int
	for i := 0; ; {
		k := strings.Index(s[i:], r.lit)
		if k < 0 {
			return out
		}
		out = append(out, [2]int{i + k, i + k + len(r.lit)})
		i += k + len(r.lit)
	}
}

// regexMatches runs a regexp2 pattern over s and returns byte ranges.
// regexp2 reports rune indexes, so they are mapped back through a table.
func regexMatches(re *regexp2.Regexp, s string) [][2]int {
	runes := []rune(s)
	byteAt := make([]int, len(runes)+1)
	b := 0
	for i, r := range runes {
		byteAt[i] = b
		b += utf8.RuneLen(r)
	}
	byteAt[len(runes)] = b
	var out [][2]int
	m, err := re.FindRunesMatch(runes)
	for err == nil && m != nil {
		out = append(out, [2]int{byteAt[m.Index], byteAt[m.Index+m.Length]})
		m, err = re.FindNextMatch(m)
	}
	return out
}

// lowercaseNorm lowercases char by char (Rust's char::to_lowercase).
type lowercaseNorm struct{}

func (lowercaseNorm) normalize(n nstr) nstr {
	w := newBuilder(n, 4)
	for i, r := range n.s {
		size := utf8.RuneLen(r) // text is valid UTF-8 (sanitised on entry)
		var l string
		if r == 'İ' {
			l = "i\u0307" // Rust expands U+0130; Go maps it to plain i
		} else {
			l = string(unicode.ToLower(r))
		}
		if l == n.s[i:i+size] {
			w.copy(n, i, i+size)
		} else {
			w.add(l, n.spanOf(i, i+size))
		}
	}
	return w.done(n.first)
}

// stripNorm removes leading and/or trailing whitespace.
type stripNorm struct{ left, right bool }

func (s stripNorm) normalize(n nstr) nstr {
	i, j := 0, len(n.s)
	if s.left {
		i = len(n.s) - len(strings.TrimLeftFunc(n.s, unicode.IsSpace))
	}
	if s.right {
		j = len(strings.TrimRightFunc(n.s[:j], unicode.IsSpace))
		if j < i {
			j = i
		}
	}
	r := n.sub(i, j)
	r.first = n.first
	return r
}

// stripAccentsNorm removes nonspacing marks (meant to follow NFD).
type stripAccentsNorm struct{}

func (stripAccentsNorm) normalize(n nstr) nstr {
	w := newBuilder(n, 0)
	for i, r := range n.s {
		size := utf8.RuneLen(r)
		if !unicode.Is(unicode.Mn, r) {
			w.copy(n, i, i+size)
		}
	}
	return w.done(n.first)
}

// byteLevelNorm maps every byte to its byte-level char (the ByteLevel
// normalizer, rarely used instead of the pre-tokenizer of the same name).
type byteLevelNorm struct{}

func (byteLevelNorm) normalize(n nstr) nstr { return byteLevelMap(n) }

// byteLevelMap rewrites each byte of n as its byte-level char; every output
// byte keeps the alignment of the input byte it came from.
func byteLevelMap(n nstr) nstr {
	w := newBuilder(n, len(n.s))
	for i := 0; i < len(n.s); i++ {
		c := byteCharStr[n.s[i]]
		w.b = append(w.b, c...)
		if w.track {
			for range len(c) {
				w.al = append(w.al, n.al[i])
			}
		}
	}
	return w.done(n.first)
}
