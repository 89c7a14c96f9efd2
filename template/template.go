// Package template is the one home of the instruction prompt templates and
// of the prompt/response split that decides which tokens a model learns
// from. Every trainer that receives tokens produced in Go (the embedded
// engine today, a GPU trainer later) gets them from here, so the text a
// model is trained on cannot differ between trainers.
//
// The templates are those of the CrossIn authors' training code
// (GitHub Lingy12/CrossIn, templates/*.json, read by
// cross_lingual_utils/prompter.py); testdata/reference holds an attributed
// copy of those files and the tests compare every prompt with them. The
// reference behaviour reproduced here:
//
//   - a record whose input is non-empty uses the template's "prompt_input",
//     any other uses "prompt_no_input" (Python's `if input:`; an input of
//     only spaces counts as non-empty);
//   - the {output_lang} slot is always empty (the training collator passes
//     an empty output_lang), which leaves Alpaca's trailing space after
//     "### Response:\n";
//   - the response is the output text followed by the end-of-sequence
//     token; the prompt is tokenized with the tokenizer's special tokens
//     (BOS), the response without;
//   - labels are IgnoreIndex (-100) over the prompt and the token ids over
//     the response, and the concatenation is cut from the right at the
//     block size.
package template

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
)

// Template names a prompt template.
type Template string

// The reference templates. Plain is the name the CLI used for Gemma's
// format before the reference names were adopted; it renders exactly as
// Gemma.
const (
	Alpaca Template = "alpaca"
	Llama  Template = "llama"
	Gemma  Template = "gemma"
	Plain  Template = "plain"
)

// Default is the template of an empty name: the reference Prompter falls
// back to alpaca.
const Default = Alpaca

// format holds one template's two prompts with Python str.format
// placeholders {instruction}, {input} and {output_lang}.
type format struct {
	input, noInput string
}

var formats = map[Template]format{
	Alpaca: {
		input:   "Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n {output_lang}",
		noInput: "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n {output_lang}",
	},
	Llama: {
		input:   "[INST] <<SYS>>\nYou are a helpful assistant.\n<</SYS>>\n\n{instruction}\n{input}[/INST]{output_lang}",
		noInput: "[INST] <<SYS>>\nYou are a helpful assistant.\n<</SYS>>\n\n{instruction}[/INST]{output_lang}",
	},
	Gemma: {
		input:   "{instruction}\n{input}\n{output_lang}",
		noInput: "{instruction}\n{output_lang}",
	},
}

func init() { formats[Plain] = formats[Gemma] }

// Names lists the reference template names (Plain, an alias, is left out).
func Names() []string {
	var out []string
	for t := range formats {
		if t != Plain {
			out = append(out, string(t))
		}
	}
	sort.Strings(out)
	return out
}

// Validate reports whether t names a template ("" means Default).
func (t Template) Validate() error {
	if t == "" {
		return nil
	}
	if _, ok := formats[t]; !ok {
		return fmt.Errorf("prompt template %q does not exist; use one of %s", t, strings.Join(Names(), ", "))
	}
	return nil
}

// Render returns the prompt text for an instruction and its input, with
// the response slot left empty, exactly as the reference collator renders
// it. The placeholders are substituted in one pass over the template, as
// str.format does, so braces inside the instruction or input are kept as
// they are.
func (t Template) Render(instruction, input string) (string, error) {
	if t == "" {
		t = Default
	}
	f, ok := formats[t]
	if !ok {
		return "", t.Validate()
	}
	tmpl := f.noInput
	if input != "" {
		tmpl = f.input
	}
	r := strings.NewReplacer("{instruction}", instruction, "{input}", input, "{output_lang}", "")
	return r.Replace(tmpl), nil
}

// Key names the template and its text for cache keys, "alpaca@" and the
// first 16 hex digits of the SHA-256 of its two prompts, so that a change
// to a template's text changes the key of every stage that used it.
func (t Template) Key() string {
	if t == "" {
		t = Default
	}
	f, ok := formats[t]
	if !ok {
		return string(t)
	}
	h := sha256.Sum256([]byte(f.input + "\x00" + f.noInput))
	return string(t) + "@" + hex.EncodeToString(h[:8])
}
