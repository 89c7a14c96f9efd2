package bench

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
)

// promptTemplatesJSON is SeaEval's prompt_templates.json: the five zero-shot
// templates per dataset, recovered from the logs of the SeaEval repository
// (github.com/SeaEval/SeaEval, branch SeaEval_v0.1, CC BY-NC 4.0; see
// PROMPTS_SOURCE.md). The placeholders are {context}, {question} and
// {choices}.
//
//go:embed prompt_templates.json
var promptTemplatesJSON []byte

// PromptFormat selects how a question is rendered.
type PromptFormat string

const (
	// FormatSeaEval uses SeaEval's zero-shot template number Template (1-5).
	FormatSeaEval PromptFormat = "seaeval"
	// FormatCrossIn uses the CrossIn authors' evaluation prompt (their
	// SeaEval fork, Lingy12/my_seaeval config/config.py, template p1):
	// "Content:\n{context}\n\nQuestion:\n{question}\n\nChoices:\n{choices}\n\nAnswer:\n"
	// for Cross-LogiQA and Cross-XQuAD, the same without the Content block
	// for Cross-MMLU, choices joined with "\n" (src/dataset.py). The fork
	// feeds it to the model as is: its Llama-family generate builds a
	// chat-wrapped copy but tokenizes the raw batch (src/model.py).
	FormatCrossIn PromptFormat = "crossin"
)

// PromptOptions configures Prompt. The instruction language (the words of
// the template) is separate from the data language (the question), so that
// one can ask, say, a Chinese question with English instructions, as SeaEval
// does for every language.
type PromptOptions struct {
	Format PromptFormat
	// Template is SeaEval's template number, 1 to 5 (FormatSeaEval only);
	// 0 means 1.
	Template int
	// InstructionLanguage is the SeaEval name of the language of the
	// instructions; "" means English. SeaEval's templates exist only in
	// English; the CrossIn prompt's labels are translated for the
	// languages in crossinLabels.
	InstructionLanguage string
}

// crossinLabels are the four labels of the CrossIn prompt per instruction
// language: content, question, choices, answer.
var crossinLabels = map[string][4]string{
	"English":    {"Content", "Question", "Choices", "Answer"},
	"Chinese":    {"内容", "问题", "选项", "答案"},
	"Vietnamese": {"Nội dung", "Câu hỏi", "Lựa chọn", "Trả lời"},
	"Spanish":    {"Contenido", "Pregunta", "Opciones", "Respuesta"},
	"Indonesian": {"Konten", "Pertanyaan", "Pilihan", "Jawaban"},
	"Malay":      {"Kandungan", "Soalan", "Pilihan", "Jawapan"},
	"Filipino":   {"Nilalaman", "Tanong", "Mga Pagpipilian", "Sagot"},
}

// templateKey maps a benchmark name to its key in prompt_templates.json.
// SeaEval's cross_xquad.py uses the same five templates as Cross-LogiQA
// (both have a context), so cross_xquad shares them.
func templateKey(benchmark string) string {
	if benchmark == "cross_xquad" {
		return "cross_logiqa"
	}
	return benchmark
}

// Templates returns SeaEval's five zero-shot templates for a benchmark
// (cross_mmlu, cross_logiqa, cross_xquad).
func Templates(benchmark string) ([]string, error) {
	var all map[string][]string
	if err := json.Unmarshal(promptTemplatesJSON, &all); err != nil {
		return nil, fmt.Errorf("embedded prompt_templates.json: %w", err)
	}
	t, ok := all[templateKey(benchmark)]
	if !ok {
		return nil, fmt.Errorf("no SeaEval prompt templates for benchmark %q (have cross_mmlu, cross_logiqa, cross_xquad)", benchmark)
	}
	return t, nil
}

// Prompt renders question q in data language lang for benchmark b's name.
// Choices are joined with "\n", as SeaEval does.
func Prompt(benchmark string, it *Item, opts PromptOptions) (string, error) {
	if it == nil {
		return "", fmt.Errorf("prompt: no item")
	}
	choices := strings.Join(it.Choices, "\n")
	instr := opts.InstructionLanguage
	if instr == "" {
		instr = "English"
	} else if n, err := LanguageName(instr); err == nil {
		instr = n
	}
	switch opts.Format {
	case FormatSeaEval, "":
		if instr != "English" {
			return "", fmt.Errorf("prompt: SeaEval's templates exist only with English instructions, not %s; use the crossin format for other instruction languages", instr)
		}
		ts, err := Templates(benchmark)
		if err != nil {
			return "", err
		}
		k := opts.Template
		if k == 0 {
			k = 1
		}
		if k < 1 || k > len(ts) {
			return "", fmt.Errorf("prompt: SeaEval template %d does not exist; use 1 to %d", k, len(ts))
		}
		// One pass over the template, so that a placeholder inside the
		// question text is never substituted again.
		r := strings.NewReplacer("{context}", it.Context, "{question}", it.Question, "{choices}", choices)
		return r.Replace(ts[k-1]), nil
	case FormatCrossIn:
		lab, ok := crossinLabels[instr]
		if !ok {
			return "", fmt.Errorf("prompt: no CrossIn prompt labels for instruction language %s (have English, Chinese, Vietnamese, Spanish, Indonesian, Malay, Filipino)", instr)
		}
		var sb strings.Builder
		if withContent(benchmark, it) {
			fmt.Fprintf(&sb, "%s:\n%s\n\n", lab[0], it.Context)
		}
		fmt.Fprintf(&sb, "%s:\n%s\n\n%s:\n%s\n\n%s:\n", lab[1], it.Question, lab[2], choices, lab[3])
		return sb.String(), nil
	default:
		return "", fmt.Errorf("prompt: unknown format %q; use seaeval or crossin", opts.Format)
	}
}

// withContent says whether the CrossIn prompt has a Content block: never
// for Cross-MMLU and always for Cross-LogiQA and Cross-XQuAD, whose
// reference templates have the slot (even for an empty context); for
// other benchmarks, when the item has a context.
func withContent(benchmark string, it *Item) bool {
	switch templateKey(benchmark) {
	case "cross_mmlu":
		return false
	case "cross_logiqa":
		return true
	}
	return it.Context != ""
}
