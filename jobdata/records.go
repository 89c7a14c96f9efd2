package jobdata

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/crossin-lab/crossin/template"
)

// Record is an instruction record as mixture files hold it (crossin data
// build writes them; other fields such as id, mode and languages are
// provenance and do not reach the model). A record may instead carry a
// ready prompt/response text pair, or already tokenized ids.
type Record struct {
	Instruction string  `json:"instruction"`
	Input       string  `json:"input"`
	Output      string  `json:"output"`
	Prompt      *string `json:"prompt"`
	Response    *string `json:"response"`
	PromptIDs   []int32 `json:"prompt_ids"`
	ResponseIDs []int32 `json:"response_ids"`
}

// Pair renders a record with tmpl and tokenizes it (template.Encode: the
// prompt with the tokenizer's special tokens, the response without, then
// eos). Tokenized records are taken as they are; a nil enc reads only
// those.
func (r *Record) Pair(enc Encoder, tmpl template.Template, eos int) (Pair, error) {
	if r.PromptIDs != nil || r.ResponseIDs != nil {
		if len(r.ResponseIDs) == 0 {
			return Pair{}, fmt.Errorf("response_ids is empty")
		}
		return Pair{Prompt: r.PromptIDs, Response: r.ResponseIDs}, nil
	}
	if enc == nil {
		return Pair{}, fmt.Errorf("a text record needs a tokenizer")
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
			return Pair{}, fmt.Errorf("no \"instruction\" (want instruction/input/output or prompt/response)")
		}
		var err error
		if prompt, err = tmpl.Render(r.Instruction, r.Input); err != nil {
			return Pair{}, err
		}
		response = r.Output
	}
	if response == "" {
		return Pair{}, fmt.Errorf("empty response")
	}
	p, q, err := template.Encode(textEncoder{enc}, prompt, response, eos)
	if err != nil {
		return Pair{}, err
	}
	return Pair{Prompt: p, Response: q}, nil
}

type textEncoder struct{ e Encoder }

func (t textEncoder) Encode(s string, special bool) ([]int, error) {
	return t.e.Encode(s, special), nil
}

// ReadRecords reads and tokenizes the records of a mixture JSONL file;
// errors name path:line.
func ReadRecords(path string, enc Encoder, tmpl template.Template, eos int) ([]Pair, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Pair
	err = eachLine(f, path, maxRecordLine, func(line int, b []byte) error {
		var rec Record
		if err := json.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("%s:%d: %v (want one JSON object per line)", path, line, err)
		}
		p, err := rec.Pair(enc, tmpl, eos)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no records", path)
	}
	return out, nil
}
