// Package mixture builds CrossIn training mixtures: an English Base set plus
// cross-lingual variants drawn from parallel instruction data (en2x, x2en,
// x2x) and translation pairs (trans), each at its own volume, concatenated
// and shuffled with a seed.
//
// The sampling follows CrossIn's reference builder: each record draws a
// language pair, then a source item uniformly at random with replacement
// (without, when asked) from the items that have both languages. Items
// missing a language are never used for a pair that needs it, so a question
// is never paired with the answer to another question. Every record carries
// its provenance (mode, languages, source ids).
//
// Output is byte-identical for the same spec and inputs on any machine and
// any GOMAXPROCS: all randomness comes from math/rand/v2 PCG streams seeded
// by the spec, and no map order is ever observed.
package mixture

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/crossin-lab/crossin/dataset"
	"github.com/crossin-lab/crossin/hub"
)

// Mode is the kind of a mixture record.
type Mode string

// The CrossIn modes.
const (
	// Base: English instruction, English response.
	Base Mode = "base"
	// En2X: English instruction (and input), response in a non-English language.
	En2X Mode = "en2x"
	// X2En: instruction in a non-English language, English response.
	X2En Mode = "x2en"
	// X2X: instruction and response languages drawn from all languages.
	X2X Mode = "x2x"
	// Trans: "Translate the following sentence into {language}." with a
	// parallel sentence as input and its translation as output.
	Trans Mode = "trans"
)

// Modes lists the modes in their canonical order.
var Modes = []Mode{Base, En2X, X2En, X2X, Trans}

// Marker says how a record tells the model which language to answer in.
type Marker string

const (
	// MarkerCode appends "\n[zh]" (the response language code) to the input,
	// as the reference builder does, also when the input is empty.
	MarkerCode Marker = "code"
	// MarkerInstruction appends " Answer in Chinese." to the instruction.
	MarkerInstruction Marker = "instruction"
	// MarkerNone adds nothing.
	MarkerNone Marker = "none"
)

// Sampling is how a variant draws source items.
type Sampling string

const (
	// WithReplacement draws every record independently (the reference
	// builder's behaviour); an item may be used more than once.
	WithReplacement Sampling = "with_replacement"
	// WithoutReplacement uses each source item at most once per variant.
	WithoutReplacement Sampling = "without_replacement"
)

// All as a Variant.Count takes every eligible source item exactly once
// (Base: the whole English set).
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
	// Translation is a multi-way parallel sentence file (FLORES style) for trans.
	Translation string
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
	// Sampling defaults to WithReplacement, as in the reference builder.
	Sampling Sampling
	Variants []Variant
	Sources  Sources
}

// Inputs are loaded data; pass them with WithInputs to skip loading Sources
// (tests, benchmarks, and callers that build several mixtures from one load).
type Inputs struct {
	English   *dataset.Set
	Parallel  *dataset.Parallel
	Sentences *dataset.Sentences
}

type config struct {
	inputs *Inputs
	hub    *hub.Client
}

// Option configures Build.
type Option func(*config)

// WithInputs supplies already loaded inputs instead of Spec.Sources.
func WithInputs(in Inputs) Option { return func(c *config) { c.inputs = &in } }

// WithHubClient sets the client for hf:// sources (default hub.NewClient()).
func WithHubClient(h *hub.Client) Option { return func(c *config) { c.hub = h } }

// Record is one training example of a mixture.
type Record struct {
	ID          string   `json:"id"`
	Mode        Mode     `json:"mode"`
	SrcLang     string   `json:"src_lang"`
	TgtLang     string   `json:"tgt_lang"`
	Instruction string   `json:"instruction"`
	Input       string   `json:"input"`
	Output      string   `json:"output"`
	SourceIDs   []string `json:"source_ids"`
}

// Result is a built mixture.
type Result struct {
	Name    string
	Records []Record
	// Hash is "sha256:<hex>" of the JSONL encoding (see Encode).
	Hash     string
	Stats    Stats
	Coverage []dataset.Coverage
	// Skipped counts, per variant, source items that had no usable language
	// pair (only with Count All).
	Skipped map[string]int
}

// Build builds the mixture declared by spec.
func Build(ctx context.Context, spec Spec, opts ...Option) (*Result, error) {
	cfg := config{}
	for _, o := range opts {
		o(&cfg)
	}
	sp, err := normalize(spec)
	if err != nil {
		return nil, err
	}
	inputs := make([]*Inputs, len(sp.Variants))
	if cfg.inputs != nil {
		for i := range inputs {
			inputs[i] = cfg.inputs
		}
	} else if inputs, err = load(ctx, sp, cfg.hub); err != nil {
		return nil, err
	}
	res := &Result{Name: sp.Name, Skipped: map[string]int{}}
	seenPar := map[*dataset.Parallel]bool{}
	for i, v := range sp.Variants {
		if err := checkInputs(sp, v, inputs[i]); err != nil {
			return nil, err
		}
		if p := inputs[i].Parallel; p != nil && (v.Mode == En2X || v.Mode == X2En || v.Mode == X2X) && !seenPar[p] {
			seenPar[p] = true
			res.Coverage = append(res.Coverage, p.Coverage()...)
		}
	}
	var recs []Record
	for vi, v := range sp.Variants {
		in := inputs[vi]
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		seed := sp.Seed
		if v.Seed != nil {
			seed = *v.Seed
		}
		rng := rand.New(rand.NewPCG(seed, stream(vi, v.Name)))
		out, skipped, err := drawVariant(sp, v, in, rng)
		if err != nil {
			return nil, fmt.Errorf("mixture %s: variant %s: %w", sp.Name, v.Name, err)
		}
		if skipped > 0 {
			res.Skipped[v.Name] = skipped
		}
		recs = append(recs, out...)
	}
	shuf := rand.New(rand.NewPCG(sp.Seed, stream(-1, "shuffle")))
	shuf.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
	res.Records = recs
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		res.Stats = ComputeStats(recs)
	}()
	res.Hash = hashBytes(Encode(recs))
	wg.Wait()
	res.Stats.Hash = res.Hash
	return res, nil
}

// stream derives a PCG stream id from a variant's position and name, so each
// variant's draws are independent of the others' volumes.
func stream(i int, name string) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "crossin/mixture/%d/%s", i, name)
	return h.Sum64()
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
		if v.Mode != Base && len(v.Languages) < 2 {
			return sp, fmt.Errorf("mixture %s: variant %s needs at least two languages, have %v", sp.Name, v.Name, v.Languages)
		}
		if (v.Mode == En2X || v.Mode == X2En || (v.Mode == Trans && v.Direction != DirAny && len(v.Pairs) == 0)) && !hasEnglish {
			return sp, fmt.Errorf("mixture %s: variant %s needs the English pivot %s among the languages %v", sp.Name, v.Name, sp.English, v.Languages)
		}
	}
	return sp, nil
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
	case WithReplacement, WithoutReplacement:
		return nil
	}
	return fmt.Errorf("unknown sampling %q (want with_replacement or without_replacement)", s)
}

// loader reads each input file once, concurrently, into fixed slots; errors
// are reported in task order, so the outcome never depends on scheduling.
type loader struct {
	ctx   context.Context
	hc    *hub.Client
	sets  map[string]*dataset.Set
	sents map[string]*dataset.Sentences
	tasks []func() error
	keys  []string
}

// set schedules loading ref as language lang and returns the key of the
// set filtered by minScore (see get). The file is read once whatever the
// filter, so a Base and a parallel English side share one parse.
func (l *loader) set(ref, lang string, minScore float64, byIndex bool) string {
	key := fmt.Sprintf("set\x00%s\x00%s\x00%v", ref, lang, byIndex)
	l.addSet(key, func() (*dataset.Set, error) {
		return dataset.LoadRef(l.ctx, ref, l.hc, loadOpts(lang, 0, byIndex)...)
	})
	return withMin(key, minScore)
}

func withMin(key string, minScore float64) string {
	return key + "\x02" + strconv.FormatFloat(minScore, 'g', -1, 64)
}

// get returns a loaded set with its score filter applied (memoized).
func (l *loader) get(fkey string) *dataset.Set {
	if s, ok := l.sets[fkey]; ok {
		return s
	}
	key, minStr, _ := strings.Cut(fkey, "\x02")
	min, _ := strconv.ParseFloat(minStr, 64)
	s := l.sets[key]
	if min > 0 {
		s = s.FilterScore(min)
	}
	l.sets[fkey] = s
	return s
}

func loadOpts(lang string, minScore float64, byIndex bool) []dataset.Option {
	opts := []dataset.Option{dataset.WithLang(lang)}
	if minScore > 0 {
		opts = append(opts, dataset.WithMinScore(minScore))
	}
	if byIndex {
		opts = append(opts, dataset.WithAlignByIndex())
	}
	return opts
}

func (l *loader) addSet(key string, f func() (*dataset.Set, error)) string {
	if _, ok := l.sets[key]; ok {
		return key
	}
	l.sets[key] = nil
	l.tasks = append(l.tasks, func() error {
		s, err := f()
		l.setSlot(key, s)
		return err
	})
	l.keys = append(l.keys, key)
	return key
}

// setSlot stores a result; slots are pre-created, so concurrent writes touch
// distinct entries of a map that is not resized (guarded anyway).
func (l *loader) setSlot(key string, s *dataset.Set) {
	loaderMu.Lock()
	l.sets[key] = s
	loaderMu.Unlock()
}

var loaderMu sync.Mutex

func (l *loader) run() error {
	errs := make([]error, len(l.tasks))
	var wg sync.WaitGroup
	for i, task := range l.tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = task()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// load reads every variant's sources; variants that share a file share its
// loaded set.
func load(ctx context.Context, sp Spec, hc *hub.Client) ([]*Inputs, error) {
	if hc == nil {
		hc = hub.NewClient()
	}
	l := &loader{ctx: ctx, hc: hc, sets: map[string]*dataset.Set{}, sents: map[string]*dataset.Sentences{}}
	type plan struct {
		english string   // set key
		langs   []string // set keys per language (parallel)
		sent    string   // sentences key
	}
	plans := make([]plan, len(sp.Variants))
	sentTasks := map[string]func() (*dataset.Sentences, error){}
	var sentOrder []string
	for i, v := range sp.Variants {
		src := v.Sources
		switch v.Mode {
		case Base:
			lang := v.Languages[0]
			ref := src.English
			if ref == "" {
				ref = src.Parallel[lang]
			}
			if ref == "" && src.XLLM != "" {
				ref = filepath.Join(src.XLLM, "alpaca_"+lang+".json")
			}
			if ref == "" {
				return nil, fmt.Errorf("mixture %s: variant %s: no %s instruction file (sources.english)", sp.Name, v.Name, lang)
			}
			plans[i].english = l.set(ref, lang, 0, src.ByIndex)
		case En2X, X2En, X2X:
			for _, lang := range v.Languages {
				var key string
				switch {
				case src.XLLM != "":
					dir, lang := src.XLLM, lang
					key = withMin(l.addSet(fmt.Sprintf("xllm\x00%s\x00%s", dir, lang), func() (*dataset.Set, error) {
						sets, err := dataset.LoadXLLM(dir, "", []string{lang})
						if err != nil {
							return nil, err
						}
						return sets[0], nil
					}), src.MinScore)
				case src.Parallel[lang] != "":
					key = l.set(src.Parallel[lang], lang, src.MinScore, src.ByIndex)
				case lang == sp.English && src.English != "":
					key = l.set(src.English, lang, src.MinScore, src.ByIndex)
				default:
					return nil, fmt.Errorf("mixture %s: variant %s: language %s has no parallel instruction file", sp.Name, v.Name, lang)
				}
				plans[i].langs = append(plans[i].langs, key)
			}
		case Trans:
			if src.Translation == "" {
				return nil, fmt.Errorf("mixture %s: variant %s: trans needs a translation file (sources.translation)", sp.Name, v.Name)
			}
			path, langs := src.Translation, v.Languages
			key := path + "\x00" + strings.Join(langs, ",")
			if _, ok := sentTasks[key]; !ok {
				sentTasks[key] = func() (*dataset.Sentences, error) {
					if dataset.IsHubRef(path) {
						r, err := dataset.ParseHubRef(path)
						if err != nil {
							return nil, err
						}
						commit, err := hc.Resolve(ctx, r.Type, r.Repo, r.Revision)
						if err != nil {
							return nil, err
						}
						if path, err = hc.Download(ctx, r.Type, r.Repo, commit, r.Path); err != nil {
							return nil, err
						}
					}
					return dataset.LoadSentences(path, langs)
				}
				sentOrder = append(sentOrder, key)
			}
			plans[i].sent = key
		}
	}
	sents := make([]*dataset.Sentences, len(sentOrder))
	for i, key := range sentOrder {
		f := sentTasks[key]
		l.tasks = append(l.tasks, func() (err error) {
			sents[i], err = f()
			return err
		})
	}
	if err := l.run(); err != nil {
		return nil, err
	}
	for i, key := range sentOrder {
		l.sents[key] = sents[i]
	}
	out := make([]*Inputs, len(sp.Variants))
	aligned := map[string]*dataset.Parallel{}
	for i, pl := range plans {
		in := &Inputs{}
		if pl.english != "" {
			in.English = l.get(pl.english)
		}
		if len(pl.langs) > 0 {
			key := strings.Join(pl.langs, "\x01")
			p, ok := aligned[key]
			if !ok {
				sets := make([]*dataset.Set, len(pl.langs))
				for j, k := range pl.langs {
					sets[j] = l.get(k)
				}
				var err error
				if p, err = dataset.Align(sets...); err != nil {
					return nil, fmt.Errorf("mixture %s: variant %s: %w", sp.Name, sp.Variants[i].Name, err)
				}
				aligned[key] = p
			}
			in.Parallel = p
		}
		if pl.sent != "" {
			in.Sentences = l.sents[pl.sent]
		}
		out[i] = in
	}
	return out, nil
}

func checkInputs(sp Spec, v Variant, in *Inputs) error {
	switch v.Mode {
	case Base:
		if in.English == nil {
			return fmt.Errorf("mixture %s: variant %s needs the English instruction set", sp.Name, v.Name)
		}
	case En2X, X2En, X2X:
		if in.Parallel == nil {
			return fmt.Errorf("mixture %s: variant %s needs parallel instruction data", sp.Name, v.Name)
		}
		for _, l := range v.Languages {
			if in.Parallel.LangIndex(l) < 0 {
				return fmt.Errorf("mixture %s: variant %s: language %s is not in the parallel data (which has %v)", sp.Name, v.Name, l, in.Parallel.Langs)
			}
		}
	case Trans:
		if in.Sentences == nil {
			return fmt.Errorf("mixture %s: variant %s needs translation sentences", sp.Name, v.Name)
		}
		for _, l := range v.Languages {
			if in.Sentences.LangIndex(l) < 0 {
				return fmt.Errorf("mixture %s: variant %s: language %s is not in the translation data %s (which has %v)", sp.Name, v.Name, l, in.Sentences.Source, in.Sentences.Langs)
			}
		}
	}
	return nil
}

// allowedPairs lists a variant's (source, target) language pairs in a fixed
// order; every record draws one uniformly. For en2x this makes the target
// uniform over the non-English languages; for x2x, drawing an ordered pair
// of distinct languages uniformly is the same as drawing both languages
// independently and redrawing when they are equal.
func allowedPairs(sp Spec, v Variant) []Pair {
	var out []Pair
	en := sp.English
	switch v.Mode {
	case Base:
		out = []Pair{{v.Languages[0], v.Languages[0]}}
	case En2X:
		for _, l := range v.Languages {
			if l != en {
				out = append(out, Pair{en, l})
			}
		}
	case X2En:
		for _, l := range v.Languages {
			if l != en {
				out = append(out, Pair{l, en})
			}
		}
	case X2X:
		for _, a := range v.Languages {
			for _, b := range v.Languages {
				if a != b || v.AllowSame {
					out = append(out, Pair{a, b})
				}
			}
		}
	case Trans:
		if len(v.Pairs) > 0 {
			return v.Pairs
		}
		for _, l := range v.Languages {
			if l == en {
				continue
			}
			switch v.Direction {
			case DirX2En:
				out = append(out, Pair{l, en})
			case DirEn2X:
				out = append(out, Pair{en, l})
			case DirBoth:
				out = append(out, Pair{l, en}, Pair{en, l})
			}
		}
		if v.Direction == DirAny {
			for _, a := range v.Languages {
				for _, b := range v.Languages {
					if a != b {
						out = append(out, Pair{a, b})
					}
				}
			}
		}
	}
	return out
}

// pool abstracts the source items of a variant.
type pool interface {
	items() int
	has(lang string, k int) bool
	make(v Variant, p Pair, k int, sp Spec) Record
	lang(l string) int
}

type parallelPool struct{ p *dataset.Parallel }

func (pp parallelPool) items() int        { return len(pp.p.IDs) }
func (pp parallelPool) lang(l string) int { return pp.p.LangIndex(l) }
func (pp parallelPool) has(l string, k int) bool {
	return pp.p.Recs[pp.p.LangIndex(l)][k] != nil
}
func (pp parallelPool) make(v Variant, p Pair, k int, sp Spec) Record {
	src := pp.p.Recs[pp.p.LangIndex(p.Src)][k]
	tgt := pp.p.Recs[pp.p.LangIndex(p.Tgt)][k]
	r := Record{
		Mode: v.Mode, SrcLang: p.Src, TgtLang: p.Tgt,
		Instruction: src.Instruction, Input: src.Input, Output: tgt.Output,
		SourceIDs: []string{p.Src + ":" + src.ID},
	}
	if p.Tgt != p.Src {
		r.SourceIDs = append(r.SourceIDs, p.Tgt+":"+tgt.ID)
	}
	addMarker(&r, v.Marker)
	return r
}

type sentencePool struct{ s *dataset.Sentences }

func (sp sentencePool) items() int        { return len(sp.s.IDs) }
func (sp sentencePool) lang(l string) int { return sp.s.LangIndex(l) }
func (sp sentencePool) has(l string, k int) bool {
	return sp.s.Text[sp.s.LangIndex(l)][k] != ""
}
func (sp sentencePool) make(v Variant, p Pair, k int, _ Spec) Record {
	id := sp.s.IDs[k]
	r := Record{
		Mode: v.Mode, SrcLang: p.Src, TgtLang: p.Tgt,
		Instruction: "Translate the following sentence into " + dataset.LanguageNames[p.Tgt] + ".",
		Input:       sp.s.Text[sp.s.LangIndex(p.Src)][k],
		Output:      sp.s.Text[sp.s.LangIndex(p.Tgt)][k],
		SourceIDs:   []string{p.Src + ":" + id, p.Tgt + ":" + id},
	}
	addMarker(&r, v.Marker)
	return r
}

type basePool struct{ s *dataset.Set }

func (bp basePool) items() int           { return len(bp.s.Records) }
func (bp basePool) lang(string) int      { return 0 }
func (bp basePool) has(string, int) bool { return true }
func (bp basePool) make(v Variant, p Pair, k int, _ Spec) Record {
	src := &bp.s.Records[k]
	r := Record{
		Mode: v.Mode, SrcLang: p.Src, TgtLang: p.Tgt,
		Instruction: src.Instruction, Input: src.Input, Output: src.Output,
		SourceIDs: []string{p.Src + ":" + src.ID},
	}
	addMarker(&r, v.Marker)
	return r
}

func addMarker(r *Record, m Marker) {
	switch m {
	case MarkerCode:
		r.Input += "\n[" + r.TgtLang + "]"
	case MarkerInstruction:
		r.Instruction += " Answer in " + dataset.LanguageNames[r.TgtLang] + "."
	}
}

// drawVariant draws one variant's records in draw order.
func drawVariant(sp Spec, v Variant, in *Inputs, rng *rand.Rand) ([]Record, int, error) {
	var pl pool
	switch v.Mode {
	case Base:
		pl = basePool{in.English}
	case Trans:
		pl = sentencePool{in.Sentences}
	default:
		pl = parallelPool{in.Parallel}
	}
	pairs := allowedPairs(sp, v)
	if len(pairs) == 0 {
		return nil, 0, fmt.Errorf("no language pair to draw from (languages %v)", v.Languages)
	}
	n := pl.items()
	name := func(i int) string { return fmt.Sprintf("%s-%06d", v.Name, i+1) }

	// Base is a subset of the English set: every item at most once.
	if v.Mode == Base {
		count := v.Count
		if count == All {
			count = n
		}
		if count > n {
			return nil, 0, fmt.Errorf("asked for %d records but the English set has %d; use a smaller count or all", count, n)
		}
		var perm []int
		if v.Count == All {
			perm = make([]int, n)
			for i := range perm {
				perm[i] = i
			}
		} else {
			perm = rng.Perm(n)[:count]
		}
		out := make([]Record, count)
		for i, k := range perm {
			out[i] = pl.make(v, pairs[0], k, sp)
			out[i].ID = name(i)
		}
		return out, 0, nil
	}

	if v.Count == All {
		// Every item once, with a pair drawn among those it can serve.
		var out []Record
		skipped := 0
		cand := make([]Pair, 0, len(pairs))
		for k := 0; k < n; k++ {
			cand = cand[:0]
			for _, p := range pairs {
				if pl.has(p.Src, k) && pl.has(p.Tgt, k) {
					cand = append(cand, p)
				}
			}
			if len(cand) == 0 {
				skipped++
				continue
			}
			r := pl.make(v, cand[rng.IntN(len(cand))], k, sp)
			r.ID = name(len(out))
			out = append(out, r)
		}
		if len(out) == 0 {
			return nil, skipped, fmt.Errorf("no source item has a usable language pair among %s", pairString(pairs))
		}
		return out, skipped, nil
	}

	// Items per pair, built on first use.
	pools := make([][]int32, len(pairs))
	built := make([]bool, len(pairs))
	cursor := make([]int, len(pairs))
	var used []bool
	if v.Sampling == WithoutReplacement {
		used = make([]bool, n)
	}
	getPool := func(pi int) ([]int32, error) {
		if built[pi] {
			return pools[pi], nil
		}
		p := pairs[pi]
		var items []int32
		for k := 0; k < n; k++ {
			if pl.has(p.Src, k) && pl.has(p.Tgt, k) {
				items = append(items, int32(k))
			}
		}
		if len(items) == 0 {
			return nil, fmt.Errorf("no source item has both %s and %s; drop the language or supply its data", p.Src, p.Tgt)
		}
		if used != nil {
			rng.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
		}
		pools[pi], built[pi] = items, true
		return items, nil
	}
	out := make([]Record, v.Count)
	for i := 0; i < v.Count; i++ {
		pi := rng.IntN(len(pairs))
		items, err := getPool(pi)
		if err != nil {
			return nil, 0, err
		}
		var k int
		if used == nil {
			k = int(items[rng.IntN(len(items))])
		} else {
			for cursor[pi] < len(items) && used[items[cursor[pi]]] {
				cursor[pi]++
			}
			if cursor[pi] == len(items) {
				return nil, 0, fmt.Errorf("without replacement: %d records asked, but the items with %s>%s ran out after %d records; lower the count or sample with replacement", v.Count, pairs[pi].Src, pairs[pi].Tgt, i)
			}
			k = int(items[cursor[pi]])
			used[k] = true
		}
		out[i] = pl.make(v, pairs[pi], k, sp)
		out[i].ID = name(i)
	}
	return out, 0, nil
}

func pairString(ps []Pair) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.Src+">"+p.Tgt)
	}
	return strings.Join(s, ", ")
}
