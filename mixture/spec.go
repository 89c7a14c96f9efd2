package mixture

import (
	"fmt"
	"sort"

	"github.com/crossin-lab/crossin/dataset"
)

// Mode is the kind of a mixture record.
type Mode string

// Modes lists the modes in their canonical order.
var Modes = []Mode{Base, En2X, X2En, X2X, Trans}

// Marker says how a record tells the model which language to answer in.
type Marker string

// Sampling is how a variant draws source items.
type Sampling string

// All as a Variant.Count means the whole source, as the reference builder's
// add_sample -1 does: Base takes every record of the English set once; the
// other variants draw as many records as the source has items, with
// replacement (so some items repeat and about 1/e are left out), or, when
// sampling without replacement, take every usable item exactly once.
const All = -1

// Translation directions for Trans.
const (
	DirX2En = "x2en" // the reference: non-English source, English target
	DirEn2X = "en2x"
	DirBoth = "both" // x2en and en2x pairs, uniformly
	DirAny  = "any"  // any ordered pair of distinct languages
)

// Pair is a (source, target) language pair.
type Pair struct {
	Src string `json:"src"`
	Tgt string `json:"tgt"`
}

// Variant is one component of a mixture.
type Variant struct {
	Mode Mode
	// Name labels the variant's records (ids are Name-000001 ...); defaults
	// to the mode. Names must be unique within a spec.
	Name string
	// Count is the number of records, or All.
	Count int
	// Seed, when non-nil, replaces the spec seed for this variant's draws.
	Seed *uint64
	// Marker defaults to MarkerCode for en2x/x2en/x2x; base and trans take
	// none (the translation instruction already names the language).
	Marker Marker
	// Direction (trans only): DirX2En (default), DirEn2X, DirBoth or DirAny.
	Direction string
	// Pairs (trans only), when set, are the allowed directions, drawn
	// uniformly; they override Direction.
	Pairs []Pair
	// AllowSame (x2x only) lets the instruction and response languages be
	// equal. Off by default: CrossIn's x2x data is cross-lingual by
	// definition, and an equal pair would be a monolingual sample.
	AllowSame bool
	// Sampling overrides the spec's sampling for this variant.
	Sampling Sampling
	// Languages overrides Spec.Languages for this variant (Base: one
	// language, default the English pivot).
	Languages []string
	// Sources overrides Spec.Sources for this variant.
	Sources *Sources
}

// Sources names the input files (local paths or hf:// references).
type Sources struct {
	// English is the English instruction set used for Base, and as the
	// English side of the parallel set when Parallel has no English entry.
	English string
	// Parallel maps a language code to its instruction file: JSONL with an
	// id field, or a JSON array aligned by position.
	Parallel map[string]string
	// XLLM is a directory of x-LLM style files alpaca_{lang}.json aligned by
	// position; it stands in for Parallel.
	XLLM string
	// Translation is a multi-way parallel sentence file (FLORES style) for
	// trans. Without it, trans pairs the instructions of the parallel set,
	// as the reference builder does.
	Translation string
	// Format is the data source's declared format ("parquet" reads files
	// and folders as Parquet whatever their names); empty: by extension.
	Format string
	// ByIndex aligns parallel files by position even when they have ids.
	ByIndex bool
	// MinScore drops parallel records whose score field is below it (0: keep all).
	MinScore float64
}

// Spec declares one mixture. It is a plain struct so that the CUE schema and
// the CLI flags can both map onto it.
type Spec struct {
	Name string
	// Languages of the parallel and translation data, English included.
	// Empty: English plus the languages of Sources.Parallel, sorted.
	Languages []string
	// English is the pivot language code (default "en").
	English string
	Seed    uint64
	// Sampling defaults to WithReplacement, as in the reference builder;
	// Numpy replays the reference builder's own draws.
	Sampling Sampling
	Variants []Variant
	Sources  Sources
}

func normalize(spec Spec) (Spec, error) {
	sp := spec
	if sp.Name == "" {
		sp.Name = "mixture"
	}
	if sp.English == "" {
		sp.English = "en"
	}
	if sp.Sampling == "" {
		sp.Sampling = WithReplacement
	}
	if err := checkSampling(sp.Sampling); err != nil {
		return sp, err
	}
	sp.Languages = defaultLanguages(sp.Languages, sp.English, &sp.Sources)
	if len(sp.Variants) == 0 {
		return sp, fmt.Errorf("mixture %s: no variants; add e.g. base, en2x, x2en, x2x or trans with a count", sp.Name)
	}
	names := map[string]bool{}
	sp.Variants = append([]Variant(nil), sp.Variants...)
	for i := range sp.Variants {
		v := &sp.Variants[i]
		known := false
		for _, m := range Modes {
			known = known || v.Mode == m
		}
		if !known {
			return sp, fmt.Errorf("mixture %s: unknown variant mode %q (want base, en2x, x2en, x2x or trans)", sp.Name, v.Mode)
		}
		if v.Name == "" {
			v.Name = string(v.Mode)
		}
		if v.Sources == nil {
			v.Sources = &sp.Sources
		}
		switch {
		case len(v.Languages) > 0:
			v.Languages = append([]string(nil), v.Languages...)
		case v.Mode == Base:
			v.Languages = []string{sp.English}
		case v.Sources == &sp.Sources:
			v.Languages = sp.Languages
		default:
			v.Languages = defaultLanguages(nil, sp.English, v.Sources)
		}
		seen := map[string]bool{}
		hasEnglish := false
		for _, l := range v.Languages {
			if err := dataset.CheckLang(l); err != nil {
				return sp, fmt.Errorf("mixture %s: variant %s: %w", sp.Name, v.Name, err)
			}
			if seen[l] {
				return sp, fmt.Errorf("mixture %s: variant %s: language %s listed twice", sp.Name, v.Name, l)
			}
			seen[l] = true
			hasEnglish = hasEnglish || l == sp.English
		}
		if v.Mode == Base && len(v.Languages) != 1 {
			return sp, fmt.Errorf("mixture %s: variant %s: base takes one language, got %v", sp.Name, v.Name, v.Languages)
		}
		if names[v.Name] {
			return sp, fmt.Errorf("mixture %s: two variants named %s; give them distinct names", sp.Name, v.Name)
		}
		names[v.Name] = true
		if v.Count == 0 || v.Count < All {
			return sp, fmt.Errorf("mixture %s: variant %s: count %d; want a positive count or all", sp.Name, v.Name, v.Count)
		}
		if v.Sampling == "" {
			v.Sampling = sp.Sampling
		}
		if err := checkSampling(v.Sampling); err != nil {
			return sp, err
		}
		if v.Marker == "" {
			v.Marker = MarkerCode
			if v.Mode == Base || v.Mode == Trans {
				v.Marker = MarkerNone
			}
		}
		switch v.Marker {
		case MarkerCode, MarkerInstruction, MarkerNone:
		default:
			return sp, fmt.Errorf("mixture %s: variant %s: unknown marker %q (want code, instruction or none)", sp.Name, v.Name, v.Marker)
		}
		if v.Mode != Trans && (v.Direction != "" || len(v.Pairs) > 0) {
			return sp, fmt.Errorf("mixture %s: variant %s: direction and pairs apply to trans only", sp.Name, v.Name)
		}
		if v.AllowSame && v.Mode != X2X {
			return sp, fmt.Errorf("mixture %s: variant %s: allow_same applies to x2x only", sp.Name, v.Name)
		}
		if v.Mode == Trans && v.Direction == "" {
			v.Direction = DirX2En
		}
		for _, p := range v.Pairs {
			if !seen[p.Src] || !seen[p.Tgt] {
				return sp, fmt.Errorf("mixture %s: variant %s: pair %s>%s uses a language not in %v", sp.Name, v.Name, p.Src, p.Tgt, v.Languages)
			}
			if p.Src == p.Tgt {
				return sp, fmt.Errorf("mixture %s: variant %s: pair %s>%s translates into the same language", sp.Name, v.Name, p.Src, p.Tgt)
			}
		}
		if v.Sampling == Numpy {
			if err := checkNumpy(sp, *v); err != nil {
				return sp, fmt.Errorf("mixture %s: variant %s: %w", sp.Name, v.Name, err)
			}
		}
		if v.Mode != Base && len(v.Languages) < 2 {
			return sp, fmt.Errorf("mixture %s: variant %s needs at least two languages, have %v", sp.Name, v.Name, v.Languages)
		}
		if (v.Mode == En2X || v.Mode == X2En || (v.Mode == Trans && v.Direction != DirAny && len(v.Pairs) == 0)) && !hasEnglish {
			return sp, fmt.Errorf("mixture %s: variant %s needs the English pivot %s among the languages %v", sp.Name, v.Name, sp.English, v.Languages)
		}
	}
	// Numpy sampling reproduces the reference's order, which a shuffle of
	// PCG-drawn parts would destroy: all parts or none.
	for _, v := range sp.Variants {
		if (v.Sampling == Numpy) != (sp.Variants[0].Sampling == Numpy) {
			return sp, fmt.Errorf("mixture %s: variant %s samples %s but variant %s samples %s; sampling numpy replays the reference builder's order, so give every part of the mixture sampling numpy, or none", sp.Name, sp.Variants[0].Name, sp.Variants[0].Sampling, v.Name, v.Sampling)
		}
	}
	return sp, nil
}

// numpyOnly reports whether every variant samples as the reference builder.
func (sp Spec) numpyOnly() bool {
	for _, v := range sp.Variants {
		if v.Sampling != Numpy {
			return false
		}
	}
	return len(sp.Variants) > 0
}

// defaultLanguages returns langs if given, else English plus the languages
// of src.Parallel, sorted.
func defaultLanguages(langs []string, english string, src *Sources) []string {
	if len(langs) > 0 {
		return append([]string(nil), langs...)
	}
	out := []string{english}
	var others []string
	for l := range src.Parallel {
		if l != english {
			others = append(others, l)
		}
	}
	sort.Strings(others)
	return append(out, others...)
}

func checkSampling(s Sampling) error {
	switch s {
	case WithReplacement, WithoutReplacement, Numpy:
		return nil
	}
	return fmt.Errorf("unknown sampling %q (want with_replacement, without_replacement or numpy)", s)
}
