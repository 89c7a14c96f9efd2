package train

import (
	"math/rand/v2"

	"github.com/crossin-lab/crossin/template"
)

// Example is one tokenized training pair. The loss covers Response only
// (the prompt's labels are IgnoreIndex), as in response-only SFT.
type Example struct {
	Prompt   []int32 `json:"prompt_ids"`
	Response []int32 `json:"response_ids"`
}

// truncated reports whether maxLen cuts the example.
func (e Example) truncated(maxLen int) bool {
	return maxLen > 0 && len(e.Prompt)+len(e.Response) > maxLen
}

// truncate cuts an example to maxLen tokens from the right, as a tokenizer
// with truncation_side="right" does and the CrossIn reference's collator
// does ((prompt+response)[:max_len]); it reports whether any response token
// is left to learn from. The labels come from template.Labels.
func (e Example) truncate(maxLen int) (ids, labels []int32, ok bool) {
	ids, labels, _, ok = template.Labels(e.Prompt, e.Response, maxLen)
	return ids, labels, ok
}

// collate right-pads examples to the longest one (DataCollatorForSeq2Seq
// with padding="longest"), with pad id pad, labels IgnoreIndex and mask 0.
func collate(exs []Example, maxLen int, pad int32) *Batch {
	T := 0
	rows := make([][2][]int32, len(exs))
	for i, e := range exs {
		ids, labels, _ := e.truncate(maxLen)
		rows[i] = [2][]int32{ids, labels}
		T = max(T, len(ids))
	}
	b := &Batch{B: len(exs), T: T}
	for _, r := range rows {
		for t := 0; t < T; t++ {
			if t < len(r[0]) {
				b.IDs, b.Labels, b.Mask = append(b.IDs, r[0][t]), append(b.Labels, r[1][t]), append(b.Mask, 1)
			} else {
				b.IDs, b.Labels, b.Mask = append(b.IDs, pad), append(b.Labels, IgnoreIndex), append(b.Mask, 0)
			}
		}
	}
	return b
}

// EpochOrder is the sample order of an epoch: a Fisher-Yates shuffle from a
// PCG seeded by (seed, epoch), so any epoch can be recomputed on resume.
func EpochOrder(n int, seed int64, epoch int) []int {
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(epoch)+0x5eed))
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := rng.IntN(i + 1)
		order[i], order[j] = order[j], order[i]
	}
	return order
}
