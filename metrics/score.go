package metrics

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/crossin-lab/crossin/bench"
)

// Scoring modes.
const (
	// ModeGenerate maps each raw output to an option with bench.Extract.
	ModeGenerate = "generate"
	// ModeLogLik picks the option with the highest log-likelihood from the
	// predictions' "loglik" field.
	ModeLogLik = "loglik"
)

// SeaEvalEpsilon is the constant SeaEval adds to the denominator of AC3 so
// that a zero accuracy and consistency give 0 instead of a division by zero:
// AC3_k = 2·cons_k·acc / (cons_k + acc + 1e-10).
const SeaEvalEpsilon = 1e-10

type options struct {
	mode       string
	lengthNorm bool
	seed       uint64
	bootstrap  int
	bootSeed   uint64
}

// Option configures Score.
type Option func(*options)

// WithMode sets the scoring mode, ModeGenerate (default) or ModeLogLik.
func WithMode(mode string) Option { return func(o *options) { o.mode = mode } }

// WithLengthNorm makes loglik mode compare per-token log-likelihoods (the
// predictions must then carry "ntokens").
func WithLengthNorm(on bool) Option { return func(o *options) { o.lengthNorm = on } }

// WithSeed seeds the random draws of answer extraction (blank outputs, no
// match, tied votes). Each (question, language) gets its own stream derived
// from this seed, the question id and the language, so a result does not
// depend on the order questions are scored in. Default 0.
func WithSeed(seed uint64) Option { return func(o *options) { o.seed = seed } }

// WithBootstrap sets the number of bootstrap resamples for the per-language
// accuracy intervals (default 1000; 0 turns them off) and their seed.
func WithBootstrap(resamples int, seed uint64) Option {
	return func(o *options) { o.bootstrap, o.bootSeed = resamples, seed }
}

// Aligned is the option each language's output was mapped to for one
// question.
type Aligned struct {
	ID string
	// Choice[l] is the mapped option string (SeaEval's
	// model_prediction_align) in language l.
	Choice map[string]string
	// Index[l] is its position among the options.
	Index map[string]int
	// Correct[l] reports Choice[l] == the gold answer.
	Correct map[string]bool
	// Random[l] reports that a seeded random draw decided (generate mode).
	Random map[string]bool
}

// Align maps every prediction to an option, in benchmark question order. It
// checks that predictions and benchmark match: every question needs a
// prediction in every language, and every prediction must name a question
// of the benchmark.
func Align(b *bench.Benchmark, preds []*bench.Prediction, languages []string, opts ...Option) ([]Aligned, []string, error) {
	o := defaults(opts)
	langs, err := resolveLanguages(b, preds, languages)
	if err != nil {
		return nil, nil, err
	}
	byID := map[string]*bench.Prediction{}
	for _, p := range preds {
		if _, ok := b.Question(p.ID); !ok {
			return nil, nil, fmt.Errorf("predictions line %d: unknown question id %q: benchmark %s has no such question", p.Line, p.ID, b.Name)
		}
		if prev, dup := byID[p.ID]; dup {
			return nil, nil, fmt.Errorf("predictions line %d: duplicate id %q (first on line %d)", p.Line, p.ID, prev.Line)
		}
		byID[p.ID] = p
	}
	var missing []string
	for _, q := range b.Questions {
		if _, ok := byID[q.ID]; !ok {
			missing = append(missing, q.ID)
		}
	}
	if len(missing) > 0 {
		return nil, nil, fmt.Errorf("predictions are missing %d of %d questions of %s (%s); every question needs a line", len(missing), len(b.Questions), b.Name, listSome(missing))
	}
	out := make([]Aligned, 0, len(b.Questions))
	for _, q := range b.Questions {
		p := byID[q.ID]
		a := Aligned{ID: q.ID, Choice: map[string]string{}, Index: map[string]int{}, Correct: map[string]bool{}, Random: map[string]bool{}}
		for _, l := range langs {
			it := q.Items[l]
			idx, random := -1, false
			switch o.mode {
			case ModeGenerate:
				text, ok := p.Output[l]
				if !ok {
					return nil, nil, fmt.Errorf("predictions line %d: question %q has no %q output; every line needs all evaluated languages (%s)", p.Line, q.ID, l, strings.Join(langs, ", "))
				}
				ex := bench.Extract(text, it.Choices, streamSeed(o.seed, q.ID, l))
				idx, random = ex.Index, ex.Random
			case ModeLogLik:
				ll, ok := p.LogLik[l]
				if !ok {
					return nil, nil, fmt.Errorf("predictions line %d: question %q has no \"loglik\" scores for %s (loglik mode)", p.Line, q.ID, l)
				}
				if len(ll) != len(it.Choices) {
					return nil, nil, fmt.Errorf("predictions line %d: question %q, %s: %d log-likelihoods for %d options", p.Line, q.ID, l, len(ll), len(it.Choices))
				}
				mode := bench.LogLikSum
				if o.lengthNorm {
					mode = bench.LogLikPerToken
				}
				idx, err = bench.PickLogLik(ll, p.NTokens[l], mode)
				if err != nil {
					return nil, nil, fmt.Errorf("predictions line %d: question %q, %s: %w", p.Line, q.ID, l, err)
				}
			default:
				return nil, nil, fmt.Errorf("unknown scoring mode %q; use %s or %s", o.mode, ModeGenerate, ModeLogLik)
			}
			c := it.Choices[idx]
			a.Choice[l], a.Index[l], a.Correct[l], a.Random[l] = c, idx, c == it.Answer, random
		}
		out = append(out, a)
	}
	return out, langs, nil
}

// Score computes SeaEval's metrics for predictions on benchmark b over the
// given languages (SeaEval names; nil means the languages of the first
// prediction, in its order, as SeaEval does).
//
// Definitions, for N questions and the evaluated language list L:
//   - language_acc[l]: the share of questions whose mapped option equals the
//     gold answer string in l; overall_acc: their mean over L.
//   - consistency_score_k (k = 2..|L|): for every k-subset of L, enumerated
//     in lexicographic order of positions in L, the share of questions whose
//     mapped options have the same first three characters ("(B)") in all
//     languages of the subset, whether right or wrong; then the mean over
//     the subsets. Each subset's share is kept in Detailed[k] under the
//     name "English,Chinese".
//   - AC3_k = 2·cons_k·acc / (cons_k + acc + 1e-10).
//   - AccCI[l]: a percentile bootstrap 95% interval of language_acc[l]
//     (crossin's addition), resampling questions with a seeded PCG.
//
// Sums run in SeaEval's order, so the floats equal SeaEval's bit for bit.
func Score(b *bench.Benchmark, preds []*bench.Prediction, languages []string, opts ...Option) (*Result, error) {
	if b == nil {
		return nil, errors.New("score: no benchmark")
	}
	o := defaults(opts)
	aligned, langs, err := Align(b, preds, languages, opts...)
	if err != nil {
		return nil, err
	}
	return scoreAligned(b.Name, aligned, langs, o)
}

func scoreAligned(name string, aligned []Aligned, langs []string, o options) (*Result, error) {
	n := len(aligned)
	if n == 0 {
		return nil, errors.New("score: no questions")
	}
	if len(langs) == 0 {
		return nil, errors.New("score: no languages")
	}
	for _, a := range aligned {
		for _, l := range langs {
			if _, ok := a.Choice[l]; !ok {
				return nil, fmt.Errorf("score: question %q has no mapped option in %s", a.ID, l)
			}
		}
	}
	r := &Result{
		Benchmark:   name,
		Languages:   append([]string(nil), langs...),
		N:           n,
		LanguageAcc: map[string]float64{},
		Consistency: map[int]float64{},
		AC3:         map[int]float64{},
		Detailed:    map[int]map[string]float64{},
	}
	sum := 0.0
	for _, l := range langs {
		c := 0
		for _, a := range aligned {
			if a.Correct[l] {
				c++
			}
		}
		r.LanguageAcc[l] = float64(c) / float64(n)
		sum += r.LanguageAcc[l]
	}
	r.OverallAcc = sum / float64(len(langs))

	// Agreement is on the first three characters of the mapped option,
	// SeaEval's definition ("(B)" for lettered options).
	key := make([][]string, n)
	for i, a := range aligned {
		key[i] = make([]string, len(langs))
		for j, l := range langs {
			key[i][j] = firstRunes(a.Choice[l], 3)
		}
	}
	for k := 2; k <= len(langs); k++ {
		det := map[string]float64{}
		total := 0.0
		combos := Combinations(len(langs), k)
		for _, c := range combos {
			agree := 0
			for i := range aligned {
				same := true
				for _, j := range c[1:] {
					if key[i][j] != key[i][c[0]] {
						same = false
						break
					}
				}
				if same {
					agree++
				}
			}
			v := float64(agree) / float64(n)
			det[SubsetName(langs, c)] = v
			total += v
		}
		r.Detailed[k] = det
		r.Consistency[k] = total / float64(len(combos))
		r.AC3[k] = AC3(r.OverallAcc, r.Consistency[k])
	}
	if o.bootstrap > 0 {
		r.AccCI = bootstrap(aligned, langs, o.bootstrap, o.bootSeed)
	}
	return r, nil
}

// AC3 is SeaEval's harmonic mean of accuracy and consistency, with its
// epsilon: 2·cons·acc / (cons + acc + 1e-10), evaluated in SeaEval's order.
func AC3(acc, cons float64) float64 {
	return 2 * cons * acc / (cons + acc + SeaEvalEpsilon)
}

// Combinations lists the k-subsets of {0..n-1} in lexicographic order (the
// order of Python's itertools.combinations).
func Combinations(n, k int) [][]int {
	if k < 0 || k > n {
		return nil
	}
	var out [][]int
	c := make([]int, k)
	for i := range c {
		c[i] = i
	}
	for {
		out = append(out, append([]int(nil), c...))
		i := k - 1
		for i >= 0 && c[i] == n-k+i {
			i--
		}
		if i < 0 {
			return out
		}
		c[i]++
		for j := i + 1; j < k; j++ {
			c[j] = c[j-1] + 1
		}
	}
}

// bootstrap returns percentile 95% intervals of each language's accuracy
// over resamples of the questions. One resample of question indices serves
// all languages, so the intervals are comparable.
func bootstrap(aligned []Aligned, langs []string, b int, seed uint64) map[string][2]float64 {
	n := len(aligned)
	rng := rand.New(rand.NewPCG(seed, 0xb0075742))
	// correct[i*len(langs)+j] is question i's correctness in language j.
	correct := make([]bool, n*len(langs))
	for i, a := range aligned {
		for j, l := range langs {
			correct[i*len(langs)+j] = a.Correct[l]
		}
	}
	accs := make([][]float64, len(langs))
	for j := range accs {
		accs[j] = make([]float64, b)
	}
	counts := make([]int, len(langs))
	for s := 0; s < b; s++ {
		clear(counts)
		for i := 0; i < n; i++ {
			row := correct[rng.IntN(n)*len(langs):]
			for j := range langs {
				if row[j] {
					counts[j]++
				}
			}
		}
		for j := range langs {
			accs[j][s] = float64(counts[j]) / float64(n)
		}
	}
	out := map[string][2]float64{}
	for j, l := range langs {
		sort.Float64s(accs[j])
		out[l] = [2]float64{quantile(accs[j], 0.025), quantile(accs[j], 0.975)}
	}
	return out
}

// quantile is the linearly interpolated quantile of sorted xs (type 7).
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 1 {
		return xs[0]
	}
	h := q * float64(len(xs)-1)
	lo := math.Floor(h)
	i := int(lo)
	if i+1 >= len(xs) {
		return xs[len(xs)-1]
	}
	return xs[i] + (h-lo)*(xs[i+1]-xs[i])
}

func defaults(opts []Option) options {
	o := options{mode: ModeGenerate, bootstrap: 1000}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// resolveLanguages picks and checks the evaluated languages.
func resolveLanguages(b *bench.Benchmark, preds []*bench.Prediction, languages []string) ([]string, error) {
	if len(preds) == 0 {
		return nil, errors.New("no predictions")
	}
	langs := languages
	if len(langs) == 0 {
		langs = preds[0].Languages
		if len(langs) == 0 {
			return nil, fmt.Errorf("predictions line %d: no language outputs; expected keys like \"English\"", preds[0].Line)
		}
	}
	seen := map[string]bool{}
	for _, l := range langs {
		if seen[l] {
			return nil, fmt.Errorf("language %s is listed twice", l)
		}
		seen[l] = true
		if !b.HasLanguage(l) {
			return nil, fmt.Errorf("benchmark %s has no language %q (it has %s)", b.Name, l, strings.Join(b.Languages, ", "))
		}
	}
	return langs, nil
}

// streamSeed derives the extraction seed of one (question, language).
func streamSeed(seed uint64, id, lang string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write([]byte(lang))
	return seed ^ h.Sum64()
}

func firstRunes(s string, n int) string {
	i := 0
	for n > 0 && i < len(s) {
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
		n--
	}
	return s[:i]
}

func listSome(ids []string) string {
	if len(ids) > 5 {
		return strings.Join(ids[:5], ", ") + ", ..."
	}
	return strings.Join(ids, ", ")
}

// ScoreFiles loads a benchmark file and a predictions file and scores them
// (see Score); the runner's score stage calls it.
func ScoreFiles(benchPath, predsPath string, languages []string, opts ...Option) (*Result, error) {
	b, err := bench.Load(benchPath)
	if err != nil {
		return nil, err
	}
	p, err := bench.ReadPredictions(predsPath)
	if err != nil {
		return nil, err
	}
	return Score(b, p, languages, opts...)
}
