package model

import (
	"context"
	"fmt"
	"math"

	"github.com/crossin-lab/crossin/engine/tensor"
)

// GenerateOptions controls greedy decoding.
type GenerateOptions struct {
	// MaxNewTokens bounds the tokens generated per prompt (required, > 0).
	MaxNewTokens int
	// EOS lists the ids that end a sequence; nil means the model's
	// (generation_config.json, else config.json). The EOS token itself is
	// included in the output, as transformers' generate does.
	EOS []int
	// IgnoreEOS keeps generating to MaxNewTokens.
	IgnoreEOS bool
}

// Generate decodes greedily from each prompt with a KV cache and returns
// the new tokens per prompt. The prompts run as one batch: their rows are
// stacked into every matrix product and each attends only to its own cache,
// which gives the same result as left padding with an attention mask
// without computing the padding. Sequences that finish drop out of the
// batch. The argmax breaks ties toward the lowest id, like torch.argmax.
func (m *Model) Generate(ctx context.Context, prompts [][]int, o GenerateOptions) ([][]int, error) {
	if o.MaxNewTokens <= 0 {
		return nil, fmt.Errorf("model: MaxNewTokens must be positive, got %d", o.MaxNewTokens)
	}
	eos := o.EOS
	if eos == nil {
		eos = m.Config.EOSTokenIDs
	}
	isEOS := func(id int) bool {
		if o.IgnoreEOS {
			return false
		}
		for _, e := range eos {
			if e == id {
				return true
			}
		}
		return false
	}
	out := make([][]int, len(prompts))
	caches := make([]*Cache, len(prompts))
	active := make([]int, 0, len(prompts)) // prompt indices still generating
	feed := make([][]int, 0, len(prompts))
	for i, p := range prompts {
		if len(p) == 0 {
			return nil, fmt.Errorf("model: prompt %d is empty (it needs at least a BOS token)", i)
		}
		caches[i] = m.NewCache()
		out[i] = []int{}
		active = append(active, i)
		feed = append(feed, p)
	}
	for step := 0; len(active) > 0; step++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cs := make([]*Cache, len(active))
		for j, i := range active {
			cs[j] = caches[i]
		}
		hs, err := m.Step(cs, feed)
		if err != nil {
			return nil, err
		}
		next := m.lastArgmax(hs, feed)
		var nActive []int
		var nFeed [][]int
		for j, i := range active {
			tok := next[j]
			out[i] = append(out[i], tok)
			if isEOS(tok) || len(out[i]) >= o.MaxNewTokens {
				continue
			}
			nActive = append(nActive, i)
			nFeed = append(nFeed, []int{tok})
		}
		active, feed = nActive, nFeed
	}
	return out, nil
}

// lastRows gathers the hidden state of the last new row of each sequence.
func (m *Model) lastRows(hs []float32, feed [][]int) []float32 {
	h := m.Config.HiddenSize
	last := make([]float32, len(feed)*h)
	r := 0
	for j, f := range feed {
		r += len(f)
		copy(last[j*h:(j+1)*h], hs[(r-1)*h:r*h])
	}
	return last
}

func (m *Model) lastArgmax(hs []float32, feed [][]int) []int {
	V := m.Config.VocabSize
	lg := m.Logits(m.lastRows(hs, feed), len(feed))
	next := make([]int, len(feed))
	for j := range feed {
		row := lg[j*V : (j+1)*V]
		best := 0
		for k, v := range row {
			if v > row[best] {
				best = k
			}
		}
		next[j] = best
	}
	return next
}

// ScoreOptions returns, for each option, the log-likelihood (natural log)
// of the option's tokens following the prompt: Σ_t log p(option[t] |
// prompt, option[:t]). The prompt runs once; every option continues from a
// fork of its KV cache that shares the prompt's keys and values without
// copying, and all options run as one batch. An empty option scores 0.
func (m *Model) ScoreOptions(prompt []int, options [][]int) ([]float64, error) {
	out, err := m.ScoreOptionsBatch([][]int{prompt}, [][][]int{options})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// ScoreOptionsBatch is ScoreOptions for several questions at once: all
// prompts run as one batch, then all options of all prompts as another.
func (m *Model) ScoreOptionsBatch(prompts [][]int, options [][][]int) ([][]float64, error) {
	if len(prompts) != len(options) {
		return nil, fmt.Errorf("model: %d prompts but %d option lists", len(prompts), len(options))
	}
	h, V := m.Config.HiddenSize, m.Config.VocabSize
	bases := make([]*Cache, len(prompts))
	for q, p := range prompts {
		if len(p) == 0 {
			return nil, fmt.Errorf("model: prompt %d is empty: scoring needs at least one prompt token", q)
		}
		for i, opt := range options[q] {
			for t, id := range opt {
				if id < 0 || id >= V {
					return nil, fmt.Errorf("model: prompt %d, option %d, token %d: id %d outside the vocabulary [0, %d)", q, i, t, id, V)
				}
			}
		}
		bases[q] = m.NewCache()
	}
	hs, err := m.Step(bases, prompts)
	if err != nil {
		return nil, err
	}
	first := m.Logits(m.lastRows(hs, prompts), len(prompts))
	scores := make([][]float64, len(prompts))
	var forks []*Cache
	var feed [][]int
	type ref struct{ q, i int }
	var which []ref
	for q := range prompts {
		row := first[q*V : (q+1)*V]
		lse := tensor.LogSumExpExact(row)
		scores[q] = make([]float64, len(options[q]))
		for i, opt := range options[q] {
			if len(opt) == 0 {
				continue
			}
			scores[q][i] = float64(row[opt[0]]) - lse
			if len(opt) > 1 {
				forks = append(forks, bases[q].Fork())
				feed = append(feed, opt[:len(opt)-1])
				which = append(which, ref{q, i})
			}
		}
	}
	if len(forks) > 0 {
		hs, err = m.Step(forks, feed)
		if err != nil {
			return nil, err
		}
		rows := len(hs) / h
		var targets []int
		for _, w := range which {
			targets = append(targets, options[w.q][w.i][1:]...)
		}
		lp := make([]float64, rows)
		for c0 := 0; c0 < rows; c0 += logitChunk {
			c1 := min(c0+logitChunk, rows)
			lg := m.Logits(hs[c0*h:c1*h], c1-c0)
			m.threads.Parallel(c1-c0, 4, func(lo, hi int) {
				for r := lo; r < hi; r++ {
					row := lg[r*V : (r+1)*V]
					lp[c0+r] = float64(row[targets[c0+r]]) - tensor.LogSumExpExact(row)
				}
			})
		}
		r := 0
		for j, w := range which {
			for range feed[j] {
				scores[w.q][w.i] += lp[r]
				r++
			}
		}
	}
	for q := range scores {
		for i, s := range scores[q] {
			if math.IsNaN(s) {
				return nil, fmt.Errorf("model: prompt %d option %d scored NaN (corrupt weights?)", q, i)
			}
		}
	}
	return scores, nil
}
