package schema

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"

	"cuelang.org/go/cue"
	"github.com/crossin-lab/crossin/trainer"
)

func (l *loader) benchmark(v cue.Value) *Benchmark {
	var raw struct {
		Task           string   `json:"task"`
		Languages      []string `json:"languages"`
		PromptTemplate int      `json:"prompt_template"`
		Prompt         string   `json:"prompt"`
		Mode           string   `json:"mode"`
		MaxNewTokens   int      `json:"max_new_tokens"`
		LengthNorm     bool     `json:"length_norm"`
		Limit          int      `json:"limit"`
		BatchSize      int      `json:"batch_size"`
		Wrap           bool     `json:"wrap"`
		ConsistencyK   int      `json:"consistency_k"`
		Path           string   `json:"path"`
		Hub            *Hub     `json:"hub"`
	}
	if !l.decodeInto(v, &raw) {
		return nil
	}
	b := &Benchmark{
		Name: label(v), Task: raw.Task, ConsistencyK: raw.ConsistencyK, Hub: raw.Hub, Pos: l.pos(v),
		Eval: trainer.EvalParams{
			Benchmark: raw.Task, Languages: raw.Languages, PromptTemplate: raw.PromptTemplate,
			Prompt: raw.Prompt, Mode: raw.Mode, MaxNewTokens: raw.MaxNewTokens,
			LengthNorm: raw.LengthNorm, Limit: raw.Limit, BatchSize: raw.BatchSize,
			Raw: !raw.Wrap,
		},
	}
	l.exactlyOne(v, "path", "hub")
	lv := v.LookupPath(cue.ParsePath("languages"))
	if len(raw.Languages) == 0 {
		l.is.add(l.pos(v), pathOf(v)+".languages", "no languages to evaluate")
	}
	if dup := duplicate(raw.Languages); dup != "" {
		l.is.add(l.pos(lv), pathOf(lv), "language %q listed twice", dup)
	}
	if raw.ConsistencyK > len(raw.Languages) && len(raw.Languages) > 0 {
		kv := v.LookupPath(cue.ParsePath("consistency_k"))
		l.is.add(l.pos(kv), pathOf(kv), "consistency_k %d is more than the %d languages evaluated", raw.ConsistencyK, len(raw.Languages))
	}
	if raw.Path != "" {
		pv := v.LookupPath(cue.ParsePath("path"))
		b.Path = l.localPath(pv, raw.Path)
		l.mustExist(pv, b.Path, false)
		if have := fileLanguages(b.Path); len(have) > 0 {
			for i, lang := range raw.Languages {
				if !contains(have, lang) {
					ev := lv.LookupPath(cue.MakePath(cue.Index(i)))
					l.is.add(l.pos(ev), pathOf(lv), "language %q is not in the benchmark data %s (it has %s)", lang, l.show(b.Path), strings.Join(have, ", "))
				}
			}
		}
	}
	return b
}

// seaEvalOrder is SeaEval's language order.
var seaEvalOrder = []string{"English", "Chinese", "Vietnamese", "Spanish", "Indonesian", "Malay", "Filipino"}

// fileLanguages reads the first record of a SeaEval-format JSONL file
// (one object per question with a key per language) and returns the
// languages it has, or nil when the file cannot tell.
func fileLanguages(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var rec map[string]json.RawMessage
		if json.Unmarshal([]byte(line), &rec) != nil {
			return nil
		}
		var out []string
		for _, lang := range seaEvalOrder {
			if _, ok := rec[lang]; ok {
				out = append(out, lang)
			}
		}
		return out
	}
	return nil
}
