package mixture

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
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
type loader struct {
	ctx   context.Context
	hc    *hub.Client
	sets  map[string]*dataset.Set
	sents map[string]*dataset.Sentences
	tasks []func() error
	keys  []string
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
func (l *loader) set(ref, lang string, minScore float64, o readOpts) string {
	key := fmt.Sprintf("set\x00%s\x00%s\x00%+v", ref, lang, o)
	l.addSet(key, func() (*dataset.Set, error) {
		return dataset.LoadRef(l.ctx, ref, l.hc, loadOpts(lang, 0, o)...)
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
			plans[i].english = l.set(ref, lang, 0, readOptsOf(v))
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

// parallel schedules the per-language files of v's parallel instruction set
// and returns their set keys, in v.Languages order.
func (l *loader) parallel(sp Spec, v Variant) ([]string, error) {
	src, o := v.Sources, readOptsOf(v)
	var keys []string
	for _, lang := range v.Languages {
		var key string
		switch {
		case src.XLLM != "":
			dir, lang := src.XLLM, lang
			key = withMin(l.addSet(fmt.Sprintf("xllm\x00%s\x00%s\x00%+v", dir, lang, o), func() (*dataset.Set, error) {
				sets, err := dataset.LoadXLLM(dir, "", []string{lang}, loadOpts(lang, 0, o)...)
				if err != nil {
					return nil, err
				}
				return sets[0], nil
			}), src.MinScore)
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
