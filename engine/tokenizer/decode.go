package tokenizer

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// decoder is one step of a tokenizer.json "decoder": it maps the list of
// token strings to a new list (Hugging Face's decode_chain); the results are
// concatenated at the end.
type decoder interface {
	decodeChain(toks []string) []string
}

type decSeq []decoder

func (d decSeq) decodeChain(toks []string) []string {
	for _, x := range d {
		toks = x.decodeChain(toks)
	}
	return toks
}

type replaceDec struct {
	lit     string
	re      *regexp2.Regexp
	content string
}

func (d replaceDec) decodeChain(toks []string) []string {
	for i, t := range toks {
		if d.re != nil {
			if r, err := d.re.Replace(t, strings.ReplaceAll(d.content, "$", "$$"), -1, -1); err == nil {
				toks[i] = r
			}
		} else if d.lit != "" {
			toks[i] = strings.ReplaceAll(t, d.lit, d.content)
		}
	}
	return toks
}

// byteFallbackDec turns runs of "<0xXX>" tokens back into text; a run that is
// not valid UTF-8 becomes one U+FFFD per byte, as in Hugging Face.
type byteFallbackDec struct{}

func parseByteToken(t string) (byte, bool) {
	if len(t) != 6 || !strings.HasPrefix(t, "<0x") || t[5] != '>' {
		return 0, false
	}
	v, err := strconv.ParseUint(t[3:5], 16, 8)
	if err != nil {
		return 0, false
	}
	return byte(v), true
}

func (byteFallbackDec) decodeChain(toks []string) []string {
	out := toks[:0:0]
	var pending []byte
	flush := func() {
		if len(pending) == 0 {
			return
		}
		if s := string(pending); utf8.ValidString(s) {
			out = append(out, s)
		} else {
			for range pending {
				out = append(out, "\uFFFD")
			}
		}
		pending = pending[:0]
	}
	for _, t := range toks {
		if b, ok := parseByteToken(t); ok {
			pending = append(pending, b)
			continue
		}
		flush()
		out = append(out, t)
	}
	flush()
	return out
}

type fuseDec struct{}

func (fuseDec) decodeChain(toks []string) []string {
	return []string{strings.Join(toks, "")}
}

// stripDec removes up to start leading and stop trailing copies of content
// from every token.
type stripDec struct {
	content     rune
	start, stop int
}

func (d stripDec) decodeChain(toks []string) []string {
	for i, t := range toks {
		a := 0
		for k := 0; k < d.start; k++ {
			r, size := utf8.DecodeRuneInString(t[a:])
			if size == 0 || r != d.content {
				break
			}
			a += size
		}
		z := len(t)
		for k := 0; k < d.stop && z > a; k++ {
			r, size := utf8.DecodeLastRuneInString(t[a:z])
			if r != d.content {
				break
			}
			z -= size
		}
		toks[i] = t[a:z]
	}
	return toks
}

// byteLevelDec maps byte-level chars back to bytes over all tokens and
// decodes the result lossily; a token with a char outside the byte alphabet
// (an added token) contributes its own UTF-8 bytes.
type byteLevelDec struct{}

func (byteLevelDec) decodeChain(toks []string) []string {
	var buf []byte
	for _, t := range toks {
		start := len(buf)
		ok := true
		for _, r := range t {
			if r >= rune(len(charByteArr)) || charByteArr[r] < 0 {
				ok = false
				break
			}
			buf = append(buf, byte(charByteArr[r]))
		}
		if !ok {
			buf = append(buf[:start], t...)
		}
	}
	return []string{lossyUTF8(buf)}
}

// metaspaceDec turns the replacement char back into spaces, dropping it in
// the first token unless the prepend scheme is "never".
type metaspaceDec struct {
	repl   rune
	scheme prependScheme
}

func (d metaspaceDec) decodeChain(toks []string) []string {
	for i, t := range toks {
		var b strings.Builder
		for _, r := range t {
			if r == d.repl {
				if i == 0 && d.scheme != prependNever {
					continue
				}
				b.WriteByte(' ')
			} else {
				b.WriteRune(r)
			}
		}
		toks[i] = b.String()
	}
	return toks
}

// bpeDec is the "BPEDecoder": the end-of-word suffix becomes a space, except
// in the last token.
type bpeDec struct{ suffix string }

func (d bpeDec) decodeChain(toks []string) []string {
	for i, t := range toks {
		r := " "
		if i == len(toks)-1 {
			r = ""
		}
		toks[i] = strings.ReplaceAll(t, d.suffix, r)
	}
	return toks
}
