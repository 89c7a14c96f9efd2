package check

import (
	"fmt"
	"strings"

	"github.com/crossin-lab/crossin/schema"
)

// namedPart is a mixture part with its variant ("base" for Base) and the
// CUE path of its volume.
type namedPart struct {
	variant, path string
	part          *schema.Part
}

func parts(m *schema.Mixture) []namedPart {
	var out []namedPart
	if m.Base != nil {
		out = append(out, namedPart{"base", "mixtures." + m.Name + ".base.volume", m.Base})
	}
	for i := range m.Variants {
		v := &m.Variants[i]
		out = append(out, namedPart{v.Variant, "mixtures." + m.Name + ".variants." + v.Variant + ".volume", &v.Part})
	}
	return out
}

// volumes compares every part's volume with the items its local source can
// give it: more than the source has is an error when sampling without
// replacement, and far more (FarBeyond times) a warning otherwise.
func (c *checker) volumes() {
	for _, m := range c.usedMixtures() {
		for _, np := range parts(m) {
			p := np.part
			size := c.sizes[p.Source]
			if size == nil || p.Volume.All || p.Volume.N == 0 {
				continue
			}
			have, what := size.usable(np.variant, p)
			n := p.Volume.N
			switch {
			case have == 0:
				c.errorf(m.Pos, np.path, "data source %q has no %s, so %s cannot draw any sample; check the source's languages and files", p.Source, what, np.variant)
			case n > have && p.Sampling == "without_replacement":
				c.errorf(m.Pos, np.path, "volume %d is more than the %s data source %q has (%s); sampling \"without_replacement\" cannot draw them: lower the volume, or use sampling: \"with_replacement\" (the reference builder's)",
					n, plural(have, "item"), p.Source, what)
			case n >= FarBeyond*have:
				c.warnf(m.Pos, np.path, "volume %d is %.0f times the %s data source %q has (%s): each one repeats about %.0f times; lower the volume or use a larger source",
					n, float64(n)/float64(have), plural(have, "item"), p.Source, what, float64(n)/float64(have))
			}
		}
	}
}

// usable counts the source items a part of variant can draw from, and
// says what was counted. Base draws records of its one language; en2x and
// x2en (and trans, English as one side) need an item in English and in
// another of the part's languages; x2x needs two of them.
func (s *sourceSize) usable(variant string, p *schema.Part) (int, string) {
	langs := p.Languages
	if variant == "base" || s.par == nil {
		lang := ""
		if len(langs) > 0 {
			lang = langs[0]
		}
		set := s.sets[lang]
		if set == nil {
			for _, x := range s.sets {
				set = x
			}
		}
		if set == nil {
			return 0, "records"
		}
		return len(set.Records), fmt.Sprintf("%s records", langName(lang))
	}
	col := map[string]int{}
	for i, l := range s.par.Langs {
		col[l] = i
	}
	needEnglish := variant != "x2x"
	minLangs := 2
	if variant == "x2x" && p.AllowSame {
		minLangs = 1
	}
	n := 0
	for k := range s.par.IDs {
		present, english := 0, false
		for _, l := range langs {
			i, ok := col[l]
			if !ok || s.par.Recs[i][k] == nil {
				continue
			}
			present++
			english = english || l == "en"
		}
		if present >= minLangs && (!needEnglish || english) {
			n++
		}
	}
	if needEnglish {
		return n, fmt.Sprintf("items in English and one of %s", strings.Join(others(langs, "en"), ", "))
	}
	return n, fmt.Sprintf("items in two of %s", strings.Join(langs, ", "))
}

func langName(code string) string {
	if code == "" {
		return "its"
	}
	return code
}

func others(list []string, x string) []string {
	var out []string
	for _, y := range list {
		if y != x {
			out = append(out, y)
		}
	}
	return out
}
