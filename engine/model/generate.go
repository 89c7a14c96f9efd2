package model

import (
	"context"
	"errors"
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
	if len(prompt) == 0 {
		return nil, errors.New("model: ScoreOptions needs a non-empty prompt")
	}
	base := m.NewCache()
	hs, err := m.Step([]*Cache{base}, [][]int{prompt})
	if err != nil {
		return nil, err
	}
	h, V := m.Config.HiddenSize, m.Config.VocabSize
	first := m.Logits(hs[(len(prompt)-1)*h:], 1)
	firstLSE := LogSumExp(first)
	scores := make([]float64, len(options))
	var forks []*Cache
	var feed [][]int
	var which []int
	for i, opt := range options {
		for t, id := range opt {
			if id < 0 || id >= V {
				return nil, fmt.Errorf("model: option %d, token %d: id %d outside the vocabulary [0, %d)", i, t, id, V)
			}
		}
		if len(opt) == 0 {
			continue
		}
		scores[i] = float64(first[opt[0]]) - firstLSE
		if len(opt) > 1 {
			forks = append(forks, base.Fork())
			feed = append(feed, opt[:len(opt)-1])
			which = append(which, i)
		}
	}
	if len(forks) == 0 {
		return scores, nil
	}
	hs, err = m.Step(forks, feed)
	if err != nil {
		return nil, err
	}
	rows := len(hs) / h
	lg := m.Logits(hs, rows)
	lp := make([]float64, rows)
	var targets []int
	for j, i := range which {
		targets = append(targets, options[i][1:len(feed[j])+1]...)
	}
	tensor.Parallel(rows, 4, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := lg[r*V : (r+1)*V]
			lp[r] = float64(row[targets[r]]) - LogSumExp(row)
		}
	})
	r := 0
	for j, i := range which {
		for range feed[j] {
			scores[i] += lp[r]
			r++
		}
	}
	for i, s := range scores {
		if math.IsNaN(s) {
			return nil, fmt.Errorf("model: option %d scored NaN (corrupt weights?)", i)
		}
	}
	return scores, nil
}
