package mixture

import (
	"fmt"
	"strings"

	"github.com/crossin-lab/crossin/schema"
)

// FromSchema maps the mixture called name in a loaded CUE spec onto a Spec,
// so the CLI and the runner build the same bytes from the same spec.
//
// Each part keeps its own data source, languages, volume, seed, sampling,
// marker, trans direction and x2x same-language switch. The final shuffle
// uses the Base part's seed (else the first variant's); with sampling numpy
// there is none, as in the reference builder.
func FromSchema(s *schema.Spec, name string) (Spec, error) {
	m := s.Mixture(name)
	if m == nil {
		var names []string
		for _, x := range s.Mixtures {
			names = append(names, x.Name)
		}
		return Spec{}, fmt.Errorf("no mixture %q in the spec (it has: %s)", name, strings.Join(names, ", "))
	}
	if m.Empty() {
		return Spec{}, fmt.Errorf("%s: mixture %q has no base and no variants (cells using it evaluate the untuned model); there is nothing to build", m.Pos, name)
	}
	sp := Spec{Name: name, English: "en"}
	seedSet := false
	add := func(mode Mode, p *schema.Part) error {
		if !p.Volume.All && p.Volume.N == 0 {
			return nil // a zero volume contributes nothing
		}
		ds := s.DataSource(p.Source)
		if ds == nil {
			return fmt.Errorf("%s: mixture %q: unknown data source %q", m.Pos, name, p.Source)
		}
		src, err := sourcesOf(ds, mode)
		if err != nil {
			return fmt.Errorf("%s: mixture %q, %s: %w", ds.Pos, name, mode, err)
		}
		seed := uint64(p.Seed)
		v := Variant{Mode: mode, Count: All, Seed: &seed, Languages: append([]string(nil), p.Languages...), Sources: src,
			Marker: Marker(p.Marker), Sampling: Sampling(p.Sampling), Direction: p.Direction, AllowSame: p.AllowSame}
		if !p.Volume.All {
			v.Count = p.Volume.N
		}
		if !seedSet {
			sp.Seed, seedSet = seed, true
		}
		sp.Variants = append(sp.Variants, v)
		return nil
	}
	if m.Base != nil {
		if err := add(Base, m.Base); err != nil {
			return Spec{}, err
		}
	}
	for _, vp := range m.Variants {
		p := vp.Part
		if err := add(Mode(vp.Variant), &p); err != nil {
			return Spec{}, err
		}
	}
	if len(sp.Variants) == 0 {
		return Spec{}, fmt.Errorf("%s: mixture %q: every part has volume 0; there is nothing to build", m.Pos, name)
	}
	// What the builder would refuse without reading any data (a numpy seed
	// out of range, parts mixing numpy with other sampling, ...) is refused
	// here, so validation reports it before anything runs.
	if _, err := normalize(sp); err != nil {
		return Spec{}, fmt.Errorf("%s: %w", m.Pos, err)
	}
	return sp, nil
}

// sourcesOf turns a data source into the Sources a part of mode reads. A
// parallel instruction set (files, or an x-llm directory) serves every
// variant, trans included: trans then pairs an item's instructions, as the
// reference builder does. One file (path) serves base, one language, or,
// for trans, a multi-way sentence file (FLORES style).
func sourcesOf(ds *schema.DataSource, mode Mode) (*Sources, error) {
	ref := func(p string) string {
		if ds.Hub == nil {
			return p
		}
		rev := ds.Hub.Revision
		if rev == "" {
			rev = "main"
		}
		return fmt.Sprintf("hf://datasets/%s@%s/%s", ds.Hub.Repo, rev, strings.TrimPrefix(p, "/"))
	}
	src := &Sources{ByIndex: ds.Align == "index", MinScore: ds.MinScore, Format: ds.Format}
	switch {
	case ds.Format == "xllm":
		if ds.Hub != nil {
			return nil, fmt.Errorf("data source %q: x-llm directories are read locally only; list the files under files: instead", ds.Name)
		}
		src.XLLM = ds.Path
		src.ByIndex = true
	case len(ds.Files) > 0:
		src.Parallel = map[string]string{}
		for lang, f := range ds.Files {
			src.Parallel[lang] = ref(f)
		}
	case ds.Path != "":
		switch mode {
		case Trans:
			src.Translation = ref(ds.Path)
		case Base:
			src.English = ref(ds.Path)
		default:
			if len(ds.Languages) != 1 {
				return nil, fmt.Errorf("data source %q: one file (path:) holds one language for %s; give files: {en: ..., zh: ...} for parallel data", ds.Name, mode)
			}
			src.Parallel = map[string]string{ds.Languages[0]: ref(ds.Path)}
		}
	default:
		return nil, fmt.Errorf("data source %q has neither files nor path", ds.Name)
	}
	return src, nil
}
