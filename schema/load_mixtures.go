package schema

import (
	"strings"

	"cuelang.org/go/cue"
)

func (l *loader) mixture(v cue.Value, s *Spec) *Mixture {
	m := &Mixture{Name: label(v), Pos: l.pos(v)}
	if bv := v.LookupPath(cue.ParsePath("base")); bv.Exists() {
		m.Base = l.part(bv, s, "")
	}
	for _, name := range Variants {
		pv := v.LookupPath(cue.MakePath(cue.Str("variants"), cue.Str(name)))
		if !pv.Exists() {
			continue
		}
		if p := l.part(pv, s, name); p != nil {
			m.Variants = append(m.Variants, VariantPart{Variant: name, Part: *p})
		}
	}
	return m
}

func (l *loader) part(v cue.Value, s *Spec, variant string) *Part {
	var p Part
	if !l.decodeInto(v, &p) {
		return nil
	}
	src := s.DataSource(p.Source)
	sv := v.LookupPath(cue.ParsePath("source"))
	if src == nil {
		l.is.add(l.pos(sv), pathOf(sv), "unknown data source %q (declare it under data: %s)", p.Source, names(s.Data))
		return &p
	}
	lv := v.LookupPath(cue.ParsePath("languages"))
	if len(p.Languages) == 0 {
		p.Languages = append([]string(nil), src.Languages...)
	}
	for i, lang := range p.Languages {
		if !contains(src.Languages, lang) {
			ev := lv.LookupPath(cue.MakePath(cue.Index(i)))
			l.is.add(l.pos(ev), pathOf(lv), "language %q is not in data source %q (it has %s)", lang, p.Source, strings.Join(src.Languages, ", "))
		}
	}
	if dup := duplicate(p.Languages); dup != "" {
		l.is.add(l.pos(lv), pathOf(lv), "language %q listed twice", dup)
	}
	switch variant {
	case "":
		if len(p.Languages) != 1 {
			l.is.add(l.pos(v), pathOf(v), "base takes one language, got %s (the paper's Base is English only)", strings.Join(p.Languages, ", "))
		}
	case "en2x", "x2en":
		if !contains(p.Languages, "en") || len(p.Languages) < 2 {
			l.is.add(l.pos(v), pathOf(v), "%s needs English plus at least one other language, got %s", variant, strings.Join(p.Languages, ", "))
		}
	case "x2x", "trans":
		if len(p.Languages) < 2 {
			l.is.add(l.pos(v), pathOf(v), "%s needs at least two languages, got %s", variant, strings.Join(p.Languages, ", "))
		}
	}
	if p.Direction != "" && variant != "trans" {
		dv := v.LookupPath(cue.ParsePath("direction"))
		l.is.add(l.pos(dv), pathOf(dv), "direction applies to trans only (remove it here)")
	}
	if p.AllowSame && variant != "x2x" {
		av := v.LookupPath(cue.ParsePath("allow_same"))
		l.is.add(l.pos(av), pathOf(av), "allow_same applies to x2x only (remove it here)")
	}
	return &p
}
