package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"

	"github.com/crossin-lab/crossin/template"
)

// Example is one tokenized training pair. The loss covers Response only
// (the prompt's labels are IgnoreIndex), as in response-only SFT.
type Example struct {
	Prompt   []int32 `json:"prompt_ids"`
	Response []int32 `json:"response_ids"`
}

// Encoder is the part of a tokenizer the data pipeline needs.
// engine/tokenizer's Tokenizer satisfies it through a small adapter.
type Encoder interface {
	// Encode returns the ids of text; addSpecial adds BOS (the
	// post-processor's template) when the tokenizer has one.
	Encode(text string, addSpecial bool) ([]int, error)
}

// Template names a prompt template; the templates, and the split of a
// record into prompt and response tokens, live in package template.
type Template = template.Template

// Prompt templates (see package template).
const (
	TemplateAlpaca = template.Alpaca
	TemplatePlain  = template.Plain
)

// Record is an instruction record as the mixture files hold it. A line may
// instead carry prompt/response text or already tokenized ids.
type Record struct {
	Instruction string  `json:"instruction"`
	Input       string  `json:"input"`
	Output      string  `json:"output"`
	Prompt      *string `json:"prompt"`
	Response    *string `json:"response"`
	PromptIDs   []int32 `json:"prompt_ids"`
	ResponseIDs []int32 `json:"response_ids"`
}

// Tokenize turns a record into an Example: the prompt is encoded with the
// special tokens (BOS), the response without, followed by eos, the way the
// reference batch is built.
func (r *Record) Tokenize(enc Encoder, tmpl Template, eos int) (Example, error) {
	if r.PromptIDs != nil || r.ResponseIDs != nil {
		if len(r.ResponseIDs) == 0 {
			return Example{}, fmt.Errorf("response_ids is empty")
		}
		return Example{Prompt: r.PromptIDs, Response: r.ResponseIDs}, nil
	}
	if enc == nil {
		return Example{}, fmt.Errorf("a text record needs a tokenizer")
	}
	var prompt, response string
	switch {
	case r.Prompt != nil || r.Response != nil:
		if r.Prompt != nil {
			prompt = *r.Prompt
		}
		if r.Response != nil {
			response = *r.Response
		}
	default:
		if r.Instruction == "" {
			return Example{}, fmt.Errorf("no \"instruction\" (want instruction/input/output, prompt/response or prompt_ids/response_ids)")
		}
		var err error
		if prompt, err = tmpl.Render(r.Instruction, r.Input); err != nil {
			return Example{}, err
		}
		response = r.Output
	}
	if response == "" {
		return Example{}, fmt.Errorf("empty response")
	}
	p, q, err := template.Encode(enc, prompt, response, eos)
	if err != nil {
		return Example{}, err
	}
	return Example{Prompt: p, Response: q}, nil
}

// ReadJSONL reads records, one JSON object per line; name is used in errors,
// which say file:line.
func ReadJSONL(r io.Reader, name string, enc Encoder, tmpl Template, eos int) ([]Example, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var out []Example
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var rec Record
		dec := json.NewDecoder(bytes.NewReader(b))
		if err := dec.Decode(&rec); err != nil {
			return nil, fmt.Errorf("%s:%d: %v (want one JSON object per line)", name, line, err)
		}
		ex, err := rec.Tokenize(enc, tmpl, eos)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		out = append(out, ex)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no records", name)
	}
	return out, nil
}

// ReadJSONLFile is ReadJSONL on a file.
func ReadJSONLFile(path string, enc Encoder, tmpl Template, eos int) ([]Example, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadJSONL(f, path, enc, tmpl, eos)
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
