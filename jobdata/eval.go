package jobdata

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/crossin-lab/crossin/atomicfile"
	"github.com/crossin-lab/crossin/bench"
	"github.com/crossin-lab/crossin/template"
)

// Eval file names.
const (
	EvalFile    = "eval.tokens.jsonl"
	OutputsFile = "outputs.jsonl"
)

// PromptLine is one line of eval.tokens.jsonl: a question in one language.
// In log-likelihood mode, option i's sequence is PromptIDs + Options[i] and
// its score sums the log-likelihoods of its last ScoreTokens[i] tokens.
type PromptLine struct {
	ID          string    `json:"id"`
	Language    string    `json:"language"`
	PromptIDs   []int32   `json:"prompt_ids"`
	Options     [][]int32 `json:"options,omitempty"`
	ScoreTokens []int     `json:"score_tokens,omitempty"`
}

// OutputLine is one line of outputs.jsonl, in the order of the prompts.
type OutputLine struct {
	ID        string    `json:"id"`
	Language  string    `json:"language"`
	OutputIDs []int32   `json:"output_ids,omitempty"`
	LogLik    []float64 `json:"loglik,omitempty"`
	NTokens   []int     `json:"ntokens,omitempty"`
}

// Encoder is the tokenizer the evaluation side needs: encoding prompts and
// decoding generations (engine/tokenizer.Tokenizer has both).
type Encoder interface {
	Encode(text string, addSpecial bool) []int
	Decode(ids []int, skipSpecial bool) string
}

// EvalSpec says how questions become prompts.
type EvalSpec struct {
	Format         bench.PromptFormat // seaeval or crossin
	PromptTemplate int                // SeaEval's template number (seaeval format)
	Mode           string             // generate or loglik
	// Wrap renders the benchmark prompt as the instruction of this
	// training template; "" feeds it raw, as the CrossIn authors'
	// evaluation does.
	Wrap template.Template
}

// Prompt renders one question in one language as text.
func (s EvalSpec) Prompt(benchmark string, it *bench.Item) (string, error) {
	text, err := bench.Prompt(benchmark, it, bench.PromptOptions{Format: s.Format, Template: s.PromptTemplate})
	if err != nil {
		return "", err
	}
	if s.Wrap == "" {
		return text, nil
	}
	return s.Wrap.Render(text, "")
}

// BuildEval tokenizes every question of b in every language of b, in
// question order and then b's language order. In log-likelihood mode each
// option is split from the prompt as lm-evaluation-harness splits it: the
// option's tokens are those of encode(prompt+option) after its common
// prefix with encode(prompt), so the tokenization at the boundary is the
// one the model would see; the prompt line holds the prefix shared by all
// options, and each option the rest.
func BuildEval(b *bench.Benchmark, s EvalSpec, tok Encoder) ([]PromptLine, error) {
	var out []PromptLine
	for _, q := range b.Questions {
		for _, lang := range b.Languages {
			it := q.Items[lang]
			text, err := s.Prompt(b.Name, it)
			if err != nil {
				return nil, fmt.Errorf("question %s (%s): %w", q.ID, lang, err)
			}
			ctx := tok.Encode(text, true)
			if len(ctx) == 0 {
				return nil, fmt.Errorf("question %s (%s): empty prompt", q.ID, lang)
			}
			pl := PromptLine{ID: q.ID, Language: lang}
			if s.Mode != "loglik" {
				pl.PromptIDs = toInt32(ctx)
				out = append(out, pl)
				continue
			}
			opts, err := OptionsLine(tok, text, it.Choices)
			if err != nil {
				return nil, fmt.Errorf("question %s (%s): %w", q.ID, lang, err)
			}
			opts.ID, opts.Language = q.ID, lang
			out = append(out, opts)
		}
	}
	return out, nil
}

// OptionsLine tokenizes a log-likelihood prompt: PromptIDs is the prefix
// every option shares, Options the rest of each encode(text+option), and
// ScoreTokens the tokens of each after its own common prefix with
// encode(text) (lm-evaluation-harness's split).
func OptionsLine(tok Encoder, text string, choices []string) (PromptLine, error) {
	var pl PromptLine
	ctx := tok.Encode(text, true)
	if len(ctx) == 0 {
		return pl, fmt.Errorf("empty prompt")
	}
	wholes := make([][]int, len(choices))
	shared := len(ctx)
	for i, o := range choices {
		whole := tok.Encode(text+o, true)
		n := commonPrefix(whole, ctx)
		if n == len(whole) {
			return pl, fmt.Errorf("option %q adds no tokens", o)
		}
		if n == 0 {
			return pl, fmt.Errorf("prompt and option %q share no tokens", o)
		}
		wholes[i] = whole
		pl.ScoreTokens = append(pl.ScoreTokens, len(whole)-n)
		shared = min(shared, n)
	}
	pl.PromptIDs = toInt32(ctx[:shared])
	for _, w := range wholes {
		pl.Options = append(pl.Options, toInt32(w[shared:]))
	}
	return pl, nil
}

// Decode turns a trainer's outputs into crossin's predictions (the format
// `crossin score` reads): generated ids are decoded with special tokens
// skipped; in log-likelihood mode the chosen option is the one with the
// highest score (bench.PickLogLik), and the scores are kept.
func Decode(b *bench.Benchmark, prompts []PromptLine, outputs []OutputLine, tok Encoder, mode string, pick bench.LogLikMode) ([]*bench.Prediction, error) {
	if len(outputs) != len(prompts) {
		return nil, fmt.Errorf("outputs: %d lines for %d prompts", len(outputs), len(prompts))
	}
	var preds []*bench.Prediction
	byID := map[string]*bench.Prediction{}
	for i, o := range outputs {
		p := prompts[i]
		if o.ID != p.ID || o.Language != p.Language {
			return nil, fmt.Errorf("outputs line %d: %s/%s, want %s/%s (outputs must follow the prompts' order)", i+1, o.ID, o.Language, p.ID, p.Language)
		}
		pr := byID[o.ID]
		if pr == nil {
			pr = &bench.Prediction{ID: o.ID, Output: map[string]string{}}
			if mode == "loglik" {
				pr.LogLik, pr.NTokens = map[string][]float64{}, map[string][]int{}
			}
			byID[o.ID] = pr
			preds = append(preds, pr)
		}
		pr.Languages = append(pr.Languages, o.Language)
		if mode == "loglik" {
			q, ok := b.Question(o.ID)
			if !ok {
				return nil, fmt.Errorf("outputs line %d: question %s is not in %s", i+1, o.ID, b.Name)
			}
			choices := q.Items[o.Language].Choices
			if len(o.LogLik) != len(choices) || len(o.NTokens) != len(choices) {
				return nil, fmt.Errorf("outputs line %d: %d scores and %d token counts for %d options", i+1, len(o.LogLik), len(o.NTokens), len(choices))
			}
			best, err := bench.PickLogLik(o.LogLik, o.NTokens, pick)
			if err != nil {
				return nil, fmt.Errorf("outputs line %d: %w", i+1, err)
			}
			pr.LogLik[o.Language], pr.NTokens[o.Language], pr.Output[o.Language] = o.LogLik, o.NTokens, choices[best]
			continue
		}
		ids := make([]int, len(o.OutputIDs))
		for k, t := range o.OutputIDs {
			ids[k] = int(t)
		}
		pr.Output[o.Language] = tok.Decode(ids, true)
	}
	return preds, nil
}

// WriteJSONL writes one JSON object per line, atomically.
func WriteJSONL[T any](path string, lines []T) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range lines {
		if err := enc.Encode(&lines[i]); err != nil {
			return err
		}
	}
	return atomicfile.Write(path, buf.Bytes(), 0o644)
}

// ReadJSONL reads one JSON object per line into T, rejecting unknown
// fields; errors name path:line.
func ReadJSONL[T any](path string) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []T
	err = eachLine(f, path, maxTokensLine, func(line int, b []byte) error {
		var v T
		if err := decodeStrict(b, &v); err != nil {
			return fmt.Errorf("%s:%d: %v", path, line, err)
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

func toInt32(v []int) []int32 {
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out
}

func commonPrefix(a, b []int) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
