package embedded

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/crossin-lab/crossin/bench"
	"github.com/crossin-lab/crossin/engine/lora"
	"github.com/crossin-lab/crossin/engine/model"
	"github.com/crossin-lab/crossin/engine/tensor"
	"github.com/crossin-lab/crossin/engine/tokenizer"
	"github.com/crossin-lab/crossin/engine/train"
	"github.com/crossin-lab/crossin/trainer"
)

// DefaultMaxNewTokens bounds generation when the job does not say.
const DefaultMaxNewTokens = 32

func (t *Trainer) eval(ctx context.Context, job *trainer.JobSpec, progress trainer.Progress, logw io.Writer) (*trainer.Manifest, error) {
	ev := job.Eval
	if len(job.Data) != 1 {
		return nil, fmt.Errorf("eval job: want one benchmark file in data, got %d", len(job.Data))
	}
	mode := ev.Mode
	if mode == "" {
		mode = "generate"
	}
	if mode != "generate" && mode != "loglik" {
		return nil, fmt.Errorf("eval job: mode %q, want generate or loglik", ev.Mode)
	}
	tmpl, err := template(job.Model.Template)
	if err != nil {
		return nil, err
	}
	b, err := bench.Load(job.Data[0])
	if err != nil {
		return nil, err
	}
	if ev.Benchmark != "" {
		b.Name = ev.Benchmark
	}
	if b, err = b.Select(ev.Limit, ev.Languages...); err != nil {
		return nil, err
	}
	tok, eos, err := loadTokenizer(job.Model.Dir)
	if err != nil {
		return nil, err
	}
	m, err := model.Load(job.Model.Dir)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	m.SetThreads(job.Threads)
	if job.Adapter != "" {
		a, err := lora.Load(job.Adapter)
		if err != nil {
			return nil, err
		}
		// train.Apply adds the LoRA deltas and swaps in modules_to_save.
		undo, err := train.Apply(m, a)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", job.Adapter, err)
		}
		defer undo()
	}
	format := bench.PromptFormat(ev.Prompt)
	maxNew := ev.MaxNewTokens
	if maxNew <= 0 {
		maxNew = DefaultMaxNewTokens
	}
	pickMode := bench.LogLikSum
	if ev.LengthNorm {
		pickMode = bench.LogLikPerToken
	}
	s := &scorer{m: m, tok: tok, eos: eos}
	total := len(b.Questions)
	fmt.Fprintf(logw, "evaluating %s: %d questions x %d languages, mode %s\n", b.Name, total, len(b.Languages), mode)
	var preds []*bench.Prediction
	for qi, q := range b.Questions {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p := &bench.Prediction{ID: q.ID, Output: map[string]string{}}
		if mode == "loglik" {
			p.LogLik, p.NTokens = map[string][]float64{}, map[string][]int{}
		}
		var genPrompts [][]int
		for _, lang := range b.Languages {
			it := q.Items[lang]
			text, err := bench.Prompt(b.Name, it, bench.PromptOptions{Format: format, Template: ev.PromptTemplate})
			if err != nil {
				return nil, err
			}
			prompt := text
			if !ev.Raw { // the CrossIn reference feeds the prompt raw
				if prompt, err = tmpl.Render(text, ""); err != nil {
					return nil, err
				}
			}
			p.Languages = append(p.Languages, lang)
			if mode == "loglik" {
				ll, nt, err := s.logLik(prompt, it.Choices)
				if err != nil {
					return nil, fmt.Errorf("question %s (%s): %w", q.ID, lang, err)
				}
				best, err := bench.PickLogLik(ll, nt, pickMode)
				if err != nil {
					return nil, fmt.Errorf("question %s (%s): %w", q.ID, lang, err)
				}
				p.LogLik[lang], p.NTokens[lang], p.Output[lang] = ll, nt, it.Choices[best]
			} else {
				genPrompts = append(genPrompts, tok.Encode(prompt, true))
			}
		}
		if mode == "generate" {
			// All languages of a question decode as one batch.
			outs, err := m.Generate(ctx, genPrompts, model.GenerateOptions{MaxNewTokens: maxNew})
			if err != nil {
				return nil, fmt.Errorf("question %s: %w", q.ID, err)
			}
			for i, lang := range b.Languages {
				p.Output[lang] = tok.Decode(outs[i], true)
			}
		}
		preds = append(preds, p)
		progress.Update(qi+1, total, b.Name)
	}
	if err := bench.SavePredictions(filepath.Join(job.OutputDir, trainer.PredictionsFile), preds); err != nil {
		return nil, err
	}
	summary := map[string]any{"benchmark": b.Name, "questions": total, "languages": b.Languages, "mode": mode}
	return trainer.WriteManifest(job.OutputDir, trainer.KindEval, Name, summary)
}

// scorer runs prompts through the model.
type scorer struct {
	m   *model.Model
	tok *tokenizer.Tokenizer
	eos int
}

// logLik returns, for each option, the summed natural-log likelihood of
// its tokens given the prompt, and its token count. The option tokens are
// those of encode(prompt+option) after the prompt's tokens, as
// lm-evaluation-harness splits them, so the tokenization at the boundary is
// the one the model would see; the prompt's KV cache is computed once and
// shared by all options.
func (s *scorer) logLik(prompt string, options []string) ([]float64, []int, error) {
	ctxIDs := s.tok.Encode(prompt, true)
	if len(ctxIDs) == 0 {
		return nil, nil, fmt.Errorf("empty prompt")
	}
	conts := make([][]int, len(options))
	split := make([]int, len(options)) // where each option's context ends in whole
	wholes := make([][]int, len(options))
	for i, o := range options {
		whole := s.tok.Encode(prompt+o, true)
		n := commonPrefix(whole, ctxIDs)
		if n == len(whole) {
			return nil, nil, fmt.Errorf("option %q adds no tokens", o)
		}
		if n == 0 {
			return nil, nil, fmt.Errorf("prompt and option %q share no tokens", o)
		}
		wholes[i], split[i], conts[i] = whole, n, whole[n:]
	}
	V := s.m.Config.VocabSize
	h := s.m.Config.HiddenSize
	// Shared prefix: the common part of all contexts (normally ctxIDs).
	shared := len(ctxIDs)
	for i := range options {
		shared = min(shared, split[i])
	}
	base := s.m.NewCache()
	if shared > 1 {
		if _, err := s.m.Step([]*model.Cache{base}, [][]int{wholes[0][:shared-1]}); err != nil {
			return nil, nil, err
		}
	}
	// Each option continues from the shared prefix with the rest of its
	// tokens but the last; the hidden states from position shared-1 on
	// predict its option tokens.
	caches := make([]*model.Cache, len(options))
	toks := make([][]int, len(options))
	for i := range options {
		caches[i] = base.Fork()
		start := max(shared-1, 0)
		toks[i] = wholes[i][start : len(wholes[i])-1]
	}
	hs, err := s.m.Step(caches, toks)
	if err != nil {
		return nil, nil, err
	}
	// Gather, for every option token, its hidden-state row and target;
	// then one logits product and the log-softmax rows in parallel (each
	// row is independent, so the result does not depend on the split).
	var rowIdx, targets, owner []int
	row := 0
	nt := make([]int, len(options))
	for i := range options {
		start := max(shared-1, 0)
		n := len(toks[i])
		// Row j of this option predicts wholes[i][start+j+1].
		first := split[i] - 1 - start // row predicting the first option token
		for j := first; j < n; j++ {
			rowIdx = append(rowIdx, row+j)
			targets = append(targets, wholes[i][start+j+1])
			owner = append(owner, i)
		}
		nt[i] = len(conts[i])
		row += n
	}
	hidden := make([]float32, len(rowIdx)*h)
	for k, r := range rowIdx {
		copy(hidden[k*h:(k+1)*h], hs[r*h:(r+1)*h])
	}
	logits := s.m.Logits(hidden, len(rowIdx))
	lp := make([]float64, len(rowIdx))
	s.m.Threads().Parallel(len(rowIdx), 8, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			r := logits[k*V : (k+1)*V]
			lp[k] = float64(r[targets[k]]) - tensor.LogSumExp(r)
		}
	})
	// Sum in token order per option: a fixed reduction order.
	ll := make([]float64, len(options))
	for k, i := range owner {
		ll[i] += lp[k]
	}
	return ll, nt, nil
}

func commonPrefix(a, b []int) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
