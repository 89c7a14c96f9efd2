package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// encoding is the internal result of encoding one sequence. toks and offs are
// only filled when offsets are tracked.
type encoding struct {
	ids  []int
	toks []string
	offs [][2]int
}

// postProcessor is a tokenizer.json "post_processor" for a single sequence.
type postProcessor interface {
	process(e *encoding, addSpecial bool)
}

type postSeq []postProcessor

func (s postSeq) process(e *encoding, addSpecial bool) {
	for _, p := range s {
		p.process(e, addSpecial)
	}
}

// templatePiece is one item of a TemplateProcessing "single" template: a
// special token (its ids) or the sequence itself (ids == nil).
type templatePiece struct {
	seq    bool
	ids    []int
	tokens []string
}

type templatePost struct{ single []templatePiece }

func (t templatePost) process(e *encoding, addSpecial bool) {
	if !addSpecial {
		return
	}
	var out encoding
	track := e.toks != nil
	for _, p := range t.single {
		if p.seq {
			out.ids = append(out.ids, e.ids...)
			if track {
				out.toks = append(out.toks, e.toks...)
				out.offs = append(out.offs, e.offs...)
			}
			continue
		}
		out.ids = append(out.ids, p.ids...)
		if track {
			out.toks = append(out.toks, p.tokens...)
			for range p.ids {
				out.offs = append(out.offs, [2]int{0, 0})
			}
		}
	}
	if track && out.toks == nil {
		out.toks, out.offs = []string{}, [][2]int{}
	}
	*e = out
}

// clsSepPost is BertProcessing / RobertaProcessing: [CLS] seq [SEP].
type clsSepPost struct {
	cls, sep         int
	clsTok, sepTok   string
	trimOffsets      bool
	addPrefixSpace   bool
	applyByteLevTrim bool
}

func (p clsSepPost) process(e *encoding, addSpecial bool) {
	if p.applyByteLevTrim && p.trimOffsets {
		byteLevelPost{trimOffsets: true, addPrefixSpace: p.addPrefixSpace}.process(e, addSpecial)
	}
	if !addSpecial {
		return
	}
	track := e.toks != nil
	e.ids = append(append([]int{p.cls}, e.ids...), p.sep)
	if track {
		e.toks = append(append([]string{p.clsTok}, e.toks...), p.sepTok)
		e.offs = append(append([][2]int{{0, 0}}, e.offs...), [2]int{0, 0})
	}
}

// byteLevelPost only adjusts offsets: with trim_offsets it drops leading and
// trailing (byte-level) spaces from each token's span.
type byteLevelPost struct{ trimOffsets, addPrefixSpace bool }

func (p byteLevelPost) process(e *encoding, _ bool) {
	if !p.trimOffsets || e.toks == nil {
		return
	}
	space := byteChar[' ']
	isSp := func(r rune) bool { return r == space || unicode.IsSpace(r) }
	for i, t := range e.toks {
		lead, trail := 0, 0
		for _, r := range t {
			if !isSp(r) {
				break
			}
			lead++
		}
		for s := t; s != ""; {
			r, size := utf8.DecodeLastRuneInString(s)
			if !isSp(r) {
				break
			}
			trail++
			s = s[:len(s)-size]
		}
		o := &e.offs[i]
		if lead > 0 {
			first := i == 0 || o[0] == 0
			if first && p.addPrefixSpace && lead == 1 {
				lead = 0
			}
			o[0] = min(o[0]+lead, o[1])
		}
		if trail > 0 && o[1] >= trail {
			o[1] = max(o[1]-trail, o[0])
		}
	}
}
