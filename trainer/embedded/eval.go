package embedded

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"path/filepath"
	"slices"

	"github.com/crossin-lab/crossin/engine/lora"
	"github.com/crossin-lab/crossin/engine/model"
	"github.com/crossin-lab/crossin/engine/tensor"
	"github.com/crossin-lab/crossin/engine/train"
	"github.com/crossin-lab/crossin/jobdata"
	"github.com/crossin-lab/crossin/trainer"
)

// DefaultMaxNewTokens bounds generation when the job does not say.
const DefaultMaxNewTokens = 32

// eval runs a tokenized evaluation (eval.tokens.jsonl) and writes
// outputs.jsonl: generated ids (stop token excluded) or option
// log-likelihoods, one line per prompt in input order. The runner builds
// the prompts and decodes and scores the outputs (package jobdata).
func (t *Trainer) eval(ctx context.Context, job *trainer.JobSpec, progress trainer.Progress, logw io.Writer) (*trainer.Manifest, error) {
	ev := job.Eval
	if len(job.Options) > 0 {
		return nil, fmt.Errorf("job spec: the embedded trainer has no options (got %v)", job.Options)
	}
	mode := ev.Mode
	if mode == "" {
		mode = "generate"
	}
	if mode != "generate" && mode != "loglik" {
		return nil, fmt.Errorf("eval job: mode %q, want generate or loglik", ev.Mode)
	}
	var prompts []jobdata.PromptLine
	for _, path := range job.Data {
		ps, err := jobdata.ReadJSONL[jobdata.PromptLine](path)
		if err != nil {
			return nil, err
		}
		prompts = append(prompts, ps...)
	}
	if len(prompts) == 0 {
		return nil, fmt.Errorf("eval job: no prompts in %v", job.Data)
	}
	m, err := model.Load(job.Model.Dir)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	m.SetThreads(job.Threads)
	lender, _ := progress.(trainer.ThreadLender)
	V := m.Config.VocabSize
	for i, p := range prompts {
		for _, seq := range append([][]int32{p.PromptIDs}, p.Options...) {
			for _, id := range seq {
				if id < 0 || int(id) >= V {
					return nil, fmt.Errorf("%s: prompt %d (%s/%s): token id %d outside the model's vocabulary (size %d)", job.Data[0], i+1, p.ID, p.Language, id, V)
				}
			}
		}
	}
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
	maxNew := ev.MaxNewTokens
	if maxNew <= 0 {
		maxNew = DefaultMaxNewTokens
	}
	eos := ev.EOSTokenIDs
	if eos == nil {
		eos = m.Config.EOSTokenIDs
	}
	s := &scorer{m: m}
	fmt.Fprintf(logw, "evaluating %d prompts, mode %s\n", len(prompts), mode)
	outs := make([]jobdata.OutputLine, len(prompts))
	for i := 0; i < len(prompts); {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if lender != nil {
			// Threads lent or taken back since (they change no result).
			m.SetThreads(threadsNow(lender, job.Threads))
		}
		// The languages of one question (consecutive lines with its id)
		// decode as one batch.
		j := i + 1
		for j < len(prompts) && prompts[j].ID == prompts[i].ID {
			j++
		}
		if mode == "loglik" {
			for k := i; k < j; k++ {
				outs[k] = jobdata.OutputLine{ID: prompts[k].ID, Language: prompts[k].Language}
				if err := s.add(prompts[k], &outs[k]); err != nil {
					return nil, fmt.Errorf("prompt %s (%s): %w", prompts[k].ID, prompts[k].Language, err)
				}
			}
			if s.queuedRows() >= headBatchRows || j == len(prompts) {
				s.flush()
			}
		} else {
			batch := make([][]int, 0, j-i)
			for k := i; k < j; k++ {
				ids := make([]int, len(prompts[k].PromptIDs))
				for x, id := range prompts[k].PromptIDs {
					ids[x] = int(id)
				}
				batch = append(batch, ids)
			}
			gen, err := m.Generate(ctx, batch, model.GenerateOptions{MaxNewTokens: maxNew, EOS: eos})
			if err != nil {
				return nil, fmt.Errorf("prompt %s: %w", prompts[i].ID, err)
			}
			for k := i; k < j; k++ {
				outs[k] = jobdata.OutputLine{ID: prompts[k].ID, Language: prompts[k].Language, OutputIDs: untilStop(gen[k-i], eos)}
			}
		}
		progress.Update(j, len(prompts), "prompts")
		i = j
	}
	if err := jobdata.WriteJSONL(filepath.Join(job.OutputDir, trainer.OutputsFile), outs); err != nil {
		return nil, err
	}
	summary := map[string]any{"prompts": len(prompts), "mode": mode}
	return trainer.WriteManifest(job.OutputDir, trainer.KindEval, Name, summary)
}

// threadsNow is what the lender allows now, within the job's bound (0 for
// all CPUs is left as it is: nothing can be lent to it).
func threadsNow(l trainer.ThreadLender, job int) int {
	if job <= 0 {
		return job
	}
	return max(1, l.ThreadsNow())
}

// untilStop returns the generated ids before the first stop token.
func untilStop(ids []int, eos []int) []int32 {
	out := make([]int32, 0, len(ids))
	for _, id := range ids {
		for _, e := range eos {
			if id == e {
				return out
			}
		}
		out = append(out, int32(id))
	}
	return out
}

// scorer runs prompts through the model. It keeps its buffers for the
// hidden states and logits of the scored rows from prompt to prompt (a
// prompt's logits are megabytes), so it serves one goroutine.
//
// The LM head runs over the scored rows of several prompts at once (add
// queues a prompt, flush scores the queue): a prompt has a few to a few
// dozen scored rows, and a product that small spends more time reading
// the 32k-row head than computing. Each row of a product is independent
// of the others (engine/tensor), so batching changes no bit.
type scorer struct {
	m      *model.Model
	hidden []float32 // the queued prompts' scored hidden-state rows
	logits []float32
	queue  []queued
}

// queued is a prompt whose hidden states wait for the LM head.
type queued struct {
	out                 *jobdata.OutputLine
	ref, targets, owner []int // per option token: its queued row, target, option
	nt                  []int
}

// headBatchRows is how many scored rows the scorer gathers before it runs
// the LM head: the product's efficiency levels off there.
const headBatchRows = 192

// add queues a prompt line for scoring: flush sets out's LogLik, for each
// option, to the summed natural-log likelihood of its last ScoreTokens
// tokens given everything before them, and its NTokens to that count. The
// runner split each option from the prompt as lm-evaluation-harness does
// (package jobdata), so the tokenization at the boundary is the one the
// model would see; the prompt's KV cache is computed once and shared by
// all options.
func (s *scorer) add(pl jobdata.PromptLine, out *jobdata.OutputLine) error {
	if len(pl.PromptIDs) == 0 || len(pl.Options) == 0 || len(pl.ScoreTokens) != len(pl.Options) {
		return fmt.Errorf("want prompt ids, options and a score_tokens entry per option")
	}
	options := pl.Options
	split := make([]int, len(options)) // where each option's scored tokens start in whole
	wholes := make([][]int, len(options))
	conts := make([][]int, len(options))
	for i, o := range options {
		whole := make([]int, 0, len(pl.PromptIDs)+len(o))
		for _, id := range pl.PromptIDs {
			whole = append(whole, int(id))
		}
		for _, id := range o {
			whole = append(whole, int(id))
		}
		k := pl.ScoreTokens[i]
		if k < 1 || k > len(o) {
			return fmt.Errorf("option %d: score_tokens %d of %d tokens", i, k, len(o))
		}
		wholes[i], split[i], conts[i] = whole, len(whole)-k, whole[len(whole)-k:]
	}
	shared := len(pl.PromptIDs)
	h := s.m.Config.HiddenSize
	base := s.m.NewCache()
	if shared > 1 {
		if err := s.m.Prefill([]*model.Cache{base}, [][]int{wholes[0][:shared-1]}); err != nil {
			return err
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
		return err
	}
	// Gather, for every option token, its hidden-state row and target.
	// Options that begin alike share rows: the row predicting each
	// option's first token (the prompt's last token) is the same for all
	// of them, and so is every row whose tokens so far are the same. Such
	// rows are merged when their hidden states are equal bit for bit
	// (checked, not assumed: it depends on the attention's arithmetic), so
	// they share one logits row and one log-sum-exp and every score keeps
	// its bits. Then one logits product (each row of a product is
	// independent of the others, engine/tensor) and the log-sum-exps in
	// parallel.
	var rowIdx []int              // distinct hidden-state rows (rows of hs)
	var ref, targets, owner []int // per option token: its row in rowIdx, target, option
	seen := map[string][]int{}    // option tokens so far → candidates in rowIdx
	key := make([]byte, 0, 64)
	row := 0
	nt := make([]int, len(options))
	for i := range options {
		start := max(shared-1, 0)
		n := len(toks[i])
		// Row j of this option predicts wholes[i][start+j+1].
		first := split[i] - 1 - start // row predicting the first option token
		for j := first; j < n; j++ {
			key = key[:0]
			for _, id := range toks[i][:j+1] {
				key = binary.AppendUvarint(key, uint64(id))
			}
			u := -1
			for _, c := range seen[string(key)] {
				if slices.Equal(hs[rowIdx[c]*h:(rowIdx[c]+1)*h], hs[(row+j)*h:(row+j+1)*h]) {
					u = c
					break
				}
			}
			if u < 0 {
				u = len(rowIdx)
				rowIdx = append(rowIdx, row+j)
				seen[string(key)] = append(seen[string(key)], u)
			}
			ref = append(ref, u)
			targets = append(targets, wholes[i][start+j+1])
			owner = append(owner, i)
		}
		nt[i] = len(conts[i])
		row += n
	}
	queued0 := s.queuedRows()
	for _, r := range rowIdx {
		s.hidden = append(s.hidden, hs[r*h:(r+1)*h]...)
	}
	for k := range ref {
		ref[k] += queued0
	}
	s.queue = append(s.queue, queued{out: out, ref: ref, targets: targets, owner: owner, nt: nt})
	return nil
}

// queuedRows is how many hidden-state rows wait for the LM head.
func (s *scorer) queuedRows() int { return len(s.hidden) / s.m.Config.HiddenSize }

// flush runs the LM head over the queued rows and completes the queued
// prompts' output lines.
func (s *scorer) flush() {
	rows := s.queuedRows()
	if rows == 0 {
		s.queue = s.queue[:0]
		return
	}
	V := s.m.Config.VocabSize
	s.logits = tensor.Grow(s.logits, rows*V)
	logits := s.m.LogitsInto(s.logits, s.hidden, rows)
	lse := make([]float64, rows)
	s.m.Threads().Parallel(rows, 8, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			var next []float32 // prefetched meanwhile, for its MaxRow
			if k+1 < hi {
				next = logits[(k+1)*V : (k+2)*V]
			}
			lse[k] = tensor.LogSumExpNext(logits[k*V:(k+1)*V], next)
		}
	})
	for _, q := range s.queue {
		// Sum in token order per option: a fixed reduction order.
		ll := make([]float64, len(q.nt))
		for k, u := range q.ref {
			ll[q.owner[k]] += float64(logits[u*V+q.targets[k]]) - lse[u]
		}
		q.out.LogLik, q.out.NTokens = ll, q.nt
	}
	s.hidden, s.queue = s.hidden[:0], s.queue[:0]
}

// logLik scores one prompt line on its own (add, then flush).
func (s *scorer) logLik(pl jobdata.PromptLine) ([]float64, []int, error) {
	var out jobdata.OutputLine
	if err := s.add(pl, &out); err != nil {
		return nil, nil, err
	}
	s.flush()
	return out.LogLik, out.NTokens, nil
}
