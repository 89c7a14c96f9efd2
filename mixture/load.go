package mixture

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/crossin-lab/crossin/dataset"
	"github.com/crossin-lab/crossin/hub"
)

// Inputs are loaded data; pass them with WithInputs to skip loading Sources
// (tests, benchmarks, and callers that build several mixtures from one load).
type Inputs struct {
	English   *dataset.Set
	Parallel  *dataset.Parallel
	Sentences *dataset.Sentences
}

// loader reads each input file once, concurrently, into fixed slots; errors
// are reported in task order, so the outcome never depends on scheduling.
// Each Build has its own loader; mu guards only that loader's slots.
type loader struct {
	ctx      context.Context
	hc       *hub.Client
	mu       sync.Mutex
	raw      map[setKey]*dataset.Set      // as read, no score filter
	filtered map[filteredKey]*dataset.Set // memo of get
	sents    map[sentKey]*dataset.Sentences
	tasks    []func() error
}

// setKey names one read of an instruction file.
type setKey struct {
	xllm bool   // ref is an x-llm directory (alpaca_LANG.json per language)
	ref  string // file, hub reference or x-llm directory
	lang string
	opts readOpts
}

// filteredKey is a read file with a minimum score filter applied.
type filteredKey struct {
	set      setKey
	minScore float64
}

// sentKey names a translation file read for a list of languages (comma-
// separated: language codes contain no commas).
type sentKey struct {
	path  string
	langs string
}

// readOpts are the settings a file is read with.
type readOpts struct {
	byIndex   bool   // ids are positions
	keepEmpty bool   // keep records with an empty instruction or output
	format    string // the data source's format
}

// readOptsOf returns how variant v reads its files. Numpy sampling replays
// the reference builder, which indexes every file by position and filters
// nothing.
func readOptsOf(v Variant) readOpts {
	o := readOpts{byIndex: v.Sources.ByIndex, format: v.Sources.Format}
	if v.Sampling == Numpy {
		o.byIndex, o.keepEmpty = true, true
	}
	return o
}

// set schedules loading ref as language lang and returns the key of the
// set filtered by minScore (see get). The file is read once whatever the
// filter, so a Base and a parallel English side share one parse.
func (l *loader) set(ref, lang string, minScore float64, o readOpts) filteredKey {
	key := setKey{ref: ref, lang: lang, opts: o}
	l.addSet(key, func() (*dataset.Set, error) {
		return dataset.LoadRef(l.ctx, ref, l.hc, loadOpts(lang, 0, o)...)
	})
	return filteredKey{key, minScore}
}

// get returns a loaded set with its score filter applied (memoized).
func (l *loader) get(fk filteredKey) *dataset.Set {
	if s, ok := l.filtered[fk]; ok {
		return s
	}
	s := l.raw[fk.set]
	if fk.minScore > 0 {
		s = s.FilterScore(fk.minScore)
	}
	l.filtered[fk] = s
	return s
}

func loadOpts(lang string, minScore float64, o readOpts) []dataset.Option {
	opts := []dataset.Option{dataset.WithLang(lang)}
	if minScore > 0 {
		opts = append(opts, dataset.WithMinScore(minScore))
	}
	if o.byIndex {
		opts = append(opts, dataset.WithAlignByIndex())
	}
	if o.keepEmpty {
		opts = append(opts, dataset.WithKeepEmpty())
	}
	if o.format == "parquet" {
		opts = append(opts, dataset.WithFormat(".parquet"))
	}
	return opts
}

// addSet schedules f to load the set of key, once per key.
func (l *loader) addSet(key setKey, f func() (*dataset.Set, error)) {
	if _, ok := l.raw[key]; ok {
		return
	}
	l.raw[key] = nil
	l.tasks = append(l.tasks, func() error {
		s, err := f()
		l.setSlot(key, s)
		return err
	})
}

// setSlot stores a result; slots are pre-created, so concurrent writes touch
// distinct entries of a map that is not resized (guarded anyway).
func (l *loader) setSlot(key setKey, s *dataset.Set) {
	l.mu.Lock()
	l.raw[key] = s
	l.mu.Unlock()
}

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
	l := &loader{ctx: ctx, hc: hc, raw: map[setKey]*dataset.Set{}, filtered: map[filteredKey]*dataset.Set{}, sents: map[sentKey]*dataset.Sentences{}}
	type plan struct {
		english *filteredKey  // Base
		langs   []filteredKey // per language (parallel)
		sent    *sentKey      // trans from a sentence file
	}
	plans := make([]plan, len(sp.Variants))
	sentTasks := map[sentKey]func() (*dataset.Sentences, error){}
	var sentOrder []sentKey
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
			k := l.set(ref, lang, 0, readOptsOf(v))
			plans[i].english = &k
		case Trans:
			if src.Translation == "" {
				// The reference: trans from the parallel instruction set.
				keys, err := l.parallel(sp, v)
				if err != nil {
					return nil, err
				}
				plans[i].langs = keys
				continue
			}
			path, langs := src.Translation, v.Languages
			key := sentKey{path: path, langs: strings.Join(langs, ",")}
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
			plans[i].sent = &key
		case En2X, X2En, X2X:
			keys, err := l.parallel(sp, v)
			if err != nil {
				return nil, err
			}
			plans[i].langs = keys
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
	// Variants over the same sets (in the same language order) share one
	// alignment.
	type alignment struct {
		sets []filteredKey
		p    *dataset.Parallel
	}
	var aligned []alignment
	for i, pl := range plans {
		in := &Inputs{}
		if pl.english != nil {
			in.English = l.get(*pl.english)
		}
		if len(pl.langs) > 0 {
			var p *dataset.Parallel
			for _, a := range aligned {
				if slices.Equal(a.sets, pl.langs) {
					p = a.p
				}
			}
			if p == nil {
				sets := make([]*dataset.Set, len(pl.langs))
				for j, k := range pl.langs {
					sets[j] = l.get(k)
				}
				var err error
				if p, err = dataset.Align(sets...); err != nil {
					return nil, fmt.Errorf("mixture %s: variant %s: %w", sp.Name, sp.Variants[i].Name, err)
				}
				aligned = append(aligned, alignment{pl.langs, p})
			}
			in.Parallel = p
		}
		if pl.sent != nil {
			in.Sentences = l.sents[*pl.sent]
		}
		out[i] = in
	}
	return out, nil
}

// parallel schedules the per-language files of v's parallel instruction set
// and returns their set keys, in v.Languages order.
func (l *loader) parallel(sp Spec, v Variant) ([]filteredKey, error) {
	src, o := v.Sources, readOptsOf(v)
	var keys []filteredKey
	for _, lang := range v.Languages {
		var key filteredKey
		switch {
		case src.XLLM != "":
			dir, lang := src.XLLM, lang
			sk := setKey{xllm: true, ref: dir, lang: lang, opts: o}
			l.addSet(sk, func() (*dataset.Set, error) {
				sets, err := dataset.LoadXLLM(dir, "", []string{lang}, loadOpts(lang, 0, o)...)
				if err != nil {
					return nil, err
				}
				return sets[0], nil
			})
			key = filteredKey{sk, src.MinScore}
		case src.Parallel[lang] != "":
			key = l.set(src.Parallel[lang], lang, src.MinScore, o)
		case lang == sp.English && src.English != "":
			key = l.set(src.English, lang, src.MinScore, o)
		default:
			what := "parallel instruction file"
			if v.Mode == Trans {
				what += " (trans pairs the instructions of the parallel set unless a sentence file is given as sources.translation)"
			}
			return nil, fmt.Errorf("mixture %s: variant %s: language %s has no %s", sp.Name, v.Name, lang, what)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

func checkInputs(sp Spec, v Variant, in *Inputs) error {
	switch v.Mode {
	case Base:
		if in.English == nil {
			return fmt.Errorf("mixture %s: variant %s needs the English instruction set", sp.Name, v.Name)
		}
	case Trans:
		if in.Sentences == nil {
			return checkParallel(sp, v, in)
		}
		for _, l := range v.Languages {
			if in.Sentences.LangIndex(l) < 0 {
				return fmt.Errorf("mixture %s: variant %s: language %s is not in the translation data %s (which has %v)", sp.Name, v.Name, l, in.Sentences.Source, in.Sentences.Langs)
			}
		}
	case En2X, X2En, X2X:
		return checkParallel(sp, v, in)
	}
	return nil
}

func checkParallel(sp Spec, v Variant, in *Inputs) error {
	if in.Parallel == nil {
		return fmt.Errorf("mixture %s: variant %s needs parallel instruction data", sp.Name, v.Name)
	}
	for _, l := range v.Languages {
		if in.Parallel.LangIndex(l) < 0 {
			return fmt.Errorf("mixture %s: variant %s: language %s is not in the parallel data (which has %v)", sp.Name, v.Name, l, in.Parallel.Langs)
		}
	}
	return nil
}
