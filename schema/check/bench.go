package check

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"unicode/utf8"
)

// maxBenchIssues bounds the records reported per benchmark file; the rest
// are counted.
const maxBenchIssues = 5

// benchmarks reads every local benchmark file an experiment evaluates on:
// each line must be UTF-8 and one JSON object holding every language the
// spec asks for (the schema's own check looks at the first record only).
func (c *checker) benchmarks() {
	used := map[string]bool{}
	for _, e := range c.spec.Experiments {
		for _, b := range e.Benchmarks {
			used[b] = true
		}
	}
	for _, b := range c.spec.Benchmarks {
		if !used[b.Name] || b.Path == "" {
			continue
		}
		path := "benchmarks." + b.Name + ".languages"
		f, err := os.Open(b.Path)
		if err != nil {
			c.errorf(b.Pos, "benchmarks."+b.Name+".path", "%v", err)
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 256<<20)
		line, reported, more := 0, 0, 0
		report := func(format string, args ...any) {
			if reported < maxBenchIssues {
				reported++
				c.errorf(b.Pos, path, format, args...)
			} else {
				more++
			}
		}
		for sc.Scan() {
			line++
			raw := bytes.TrimSpace(sc.Bytes())
			if len(raw) == 0 {
				continue
			}
			if !utf8.Valid(raw) {
				report("%s:%d: invalid UTF-8; re-encode the benchmark file as UTF-8", b.Path, line)
				continue
			}
			var rec map[string]json.RawMessage
			if err := json.Unmarshal(raw, &rec); err != nil {
				report("%s:%d: %v (want one JSON object per line, SeaEval's format)", b.Path, line, err)
				continue
			}
			var missing []string
			for _, lang := range b.Eval.Languages {
				if v, ok := rec[lang]; !ok || string(v) == "null" {
					missing = append(missing, lang)
				}
			}
			if len(missing) > 0 {
				id := ""
				_ = json.Unmarshal(rec["id"], &id)
				report("%s:%d: question %q has no %s; remove %s from the languages, or use a file that has them",
					b.Path, line, id, strings.Join(missing, ", "), strings.Join(missing, ", "))
			}
		}
		if err := sc.Err(); err != nil {
			c.errorf(b.Pos, "benchmarks."+b.Name+".path", "%s:%d: %v", b.Path, line+1, err)
		}
		f.Close()
		if more > 0 {
			c.errorf(b.Pos, path, "%s: %s more like the above", b.Path, fmt.Sprint(more))
		}
	}
}
