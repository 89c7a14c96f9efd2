package template

import "fmt"

// IgnoreIndex is the label of a token the loss skips (PyTorch's
// CrossEntropyLoss ignore_index, the reference's IGNORE_INDEX).
const IgnoreIndex = -100

// Encoder is the part of a tokenizer the split needs. engine/tokenizer's
// Tokenizer satisfies it through a small adapter.
type Encoder interface {
	// Encode returns the ids of text; addSpecial adds the tokenizer's
	// special tokens (BOS) when it has a post-processor template.
	Encode(text string, addSpecial bool) ([]int, error)
}

// Encode tokenizes one prompt/response pair as the reference collator
// does: the prompt with the special tokens (BOS, never EOS), the response
// without them, followed by eos when eos >= 0. (The reference appends the
// EOS token's text to the output and lets the tokenizer turn it into the
// id; appending the id is the same sequence without re-parsing the text.)
func Encode(enc Encoder, prompt, response string, eos int) (promptIDs, responseIDs []int32, err error) {
	if enc == nil {
		return nil, nil, fmt.Errorf("a text record needs a tokenizer")
	}
	p, err := enc.Encode(prompt, true)
	if err != nil {
		return nil, nil, err
	}
	q, err := enc.Encode(response, false)
	if err != nil {
		return nil, nil, err
	}
	promptIDs, responseIDs = toInt32(p), toInt32(q)
	if eos >= 0 {
		responseIDs = append(responseIDs, int32(eos))
	}
	return promptIDs, responseIDs, nil
}

func toInt32(v []int) []int32 {
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out
}

// Labels returns the model input for a prompt/response pair and its
// labels: the prompt's tokens are IgnoreIndex, the response's are their
// ids (the model shifts them by one). The sequence is cut from the right
// at maxLen tokens when maxLen > 0, as the reference does with
// [:max_seq_len]; truncated says whether it was. ok reports whether a
// response token is left to learn from (a label at position 0 never is:
// nothing precedes it).
func Labels(prompt, response []int32, maxLen int) (ids, labels []int32, truncated, ok bool) {
	ids = make([]int32, 0, len(prompt)+len(response))
	ids = append(append(ids, prompt...), response...)
	labels = make([]int32, len(ids))
	for i := range labels {
		if i < len(prompt) {
			labels[i] = IgnoreIndex
		} else {
			labels[i] = ids[i]
		}
	}
	if maxLen > 0 && len(ids) > maxLen {
		ids, labels, truncated = ids[:maxLen], labels[:maxLen], true
	}
	if len(labels) > 1 {
		for _, l := range labels[1:] {
			if l != IgnoreIndex {
				return ids, labels, truncated, true
			}
		}
	}
	return ids, labels, truncated, false
}
