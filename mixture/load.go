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
