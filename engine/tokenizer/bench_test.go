package tokenizer

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/internal/sharedtest"
)

// benchCorpus returns about 600 Alpaca records per language (instruction,
// input and output joined by newlines) from ../shared, and the 25 XQuAD /
// Alpaca / edge-case strings of texts.json as "mixed".
func benchCorpus(b *testing.B) map[string][]string {
	const n = 600
	out := map[string][]string{}
	var en []struct{ Instruction, Input, Output string }
	data, err := os.ReadFile(sharedtest.Path(b, "data/instructions/alpaca_en/alpaca_data.json"))
	if err != nil {
		b.Fatal(err)
	}
	if err := json.Unmarshal(data, &en); err != nil {
		b.Fatal(err)
	}
	for _, r := range en[:n] {
		out["en"] = append(out["en"], r.Instruction+"\n"+r.Input+"\n"+r.Output)
	}
	readJSONL := func(path string, f func(m map[string]any) string) []string {
		fh, err := os.Open(sharedtest.Path(b, path))
		if err != nil {
			b.Fatal(err)
		}
		defer fh.Close()
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		var res []string
		for sc.Scan() && len(res) < n {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				res = append(res, f(m))
			}
		}
		return res
	}
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	out["zh"] = readJSONL("data/instructions/alpaca_zh_hikariming/alpaca_zh_aligned.jsonl", func(m map[string]any) string {
		return str(m, "instruction") + "\n" + str(m, "input") + "\n" + str(m, "output")
	})
	out["vi"] = readJSONL("data/instructions/alpaca_vi_gpt4vn/alpaca_vi_aligned.jsonl", func(m map[string]any) string {
		return str(m, "prompt") + "\n" + str(m, "response")
	})
	var texts []struct{ Text string }
	data, err = os.ReadFile(filepath.Join(sharedDir(b), "reference", "texts.json"))
	if err != nil {
		b.Fatal(err)
	}
	json.Unmarshal(data, &texts)
	for _, t := range texts {
		out["mixed"] = append(out["mixed"], t.Text)
	}
	return out
}

func totalBytes(docs []string) int64 {
	var n int64
	for _, d := range docs {
		n += int64(len(d))
	}
	return n
}

// loadVariant loads a reference tokenizer afresh and changes it, for the
// baselines (a shared instance must not be mutated).
func loadVariant(b *testing.B, name string, change func(t *Tokenizer)) *Tokenizer {
	tk, err := Load(filepath.Join(sharedDir(b), "reference", "tokenizers", name+".tokenizer.json"))
	if err != nil {
		b.Fatal(err)
	}
	change(tk)
	return tk
}

// noFastPath makes the Split pre-tokenizers use regexp2 instead of the
// hand-written matchers.
func noFastPath(t *Tokenizer) {
	t.fastWords, t.rawCache = nil, nil
	var walk func(p pretokenizer)
	walk = func(p pretokenizer) {
		switch x := p.(type) {
		case preSeq:
			for _, y := range x {
				walk(y)
			}
		case *splitPre:
			x.fast = nil
		case byteLevelPre:
			if x.regex != nil {
				x.regex.fast = nil
			}
		}
	}
	walk(t.pre)
}

// BenchmarkTokenizer reports encode and decode throughput in MB/s of text
// (SetBytes is the text length in both), per tokenizer and language, plus
// two baselines on Qwen3: the generic regexp2 pre-tokenizer and no word
// cache. Compare within one run: go test -bench Tokenizer -benchtime 2x.
func BenchmarkTokenizer(b *testing.B) {
	corpus := benchCorpus(b)
	type variant struct {
		name string
		tk   *Tokenizer
	}
	variants := []variant{
		{"llama2", refTokenizer(b, "llama2")},
		{"qwen3", refTokenizer(b, "qwen3")},
		{"qwen3-regexp2", loadVariant(b, "qwen3", noFastPath)},
		{"qwen3-nocache", loadVariant(b, "qwen3", func(t *Tokenizer) { t.model.cache, t.rawCache = nil, nil })},
	}
	for _, v := range variants {
		for _, lang := range []string{"en", "zh", "vi", "mixed"} {
			docs := corpus[lang]
			if strings.Contains(v.name, "-") && lang != "en" && lang != "zh" {
				continue
			}
			ids := make([][]int, len(docs))
			for i, d := range docs {
				ids[i] = v.tk.Encode(d, false)
			}
			b.Run(v.name+"/"+lang+"/encode", func(b *testing.B) {
				measure(b, totalBytes(docs), func() {
					for _, d := range docs {
						v.tk.Encode(d, false)
					}
				})
			})
			if strings.Contains(v.name, "-") {
				continue
			}
			b.Run(v.name+"/"+lang+"/decode", func(b *testing.B) {
				measure(b, totalBytes(docs), func() {
					for _, x := range ids {
						v.tk.Decode(x, false)
					}
				})
			})
		}
	}
	b.Run("qwen3/en/encode-batch", func(b *testing.B) {
		docs := corpus["en"]
		tk := refTokenizer(b, "qwen3")
		measure(b, totalBytes(docs), func() { tk.EncodeBatch(docs, false) })
	})
}

// measure runs f once untimed (to fill the word caches, as in steady
// use), then times it, reporting MB/s of wall time (SetBytes) and
// "cpuMB/s", megabytes per CPU-second of the whole process.
func measure(b *testing.B, n int64, f func()) {
	f()
	b.SetBytes(n)
	c0 := cpuTime()
	iters := 0
	for b.Loop() {
		f()
		iters++
	}
	if c := cpuTime() - c0; c > 0 {
		b.ReportMetric(float64(n)*float64(iters)/1e6/c.Seconds(), "cpuMB/s")
	}
}
