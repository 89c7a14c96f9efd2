package check

import (
	"strings"

	"github.com/crossin-lab/crossin/bench"
)

// maxBenchIssues bounds the questions reported per benchmark file; the
// rest are counted.
const maxBenchIssues = 5

// benchmarks reads every local benchmark file an experiment evaluates on
// with the loader the evaluation uses: the file must be UTF-8, and every
// question must have every language the spec evaluates (the schema's own
// check looks at the first record only).
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
		if !strings.HasSuffix(b.Path, ".gz") {
			if err := checkUTF8(b.Path); err != nil {
				c.errorf(b.Pos, "benchmarks."+b.Name+".path", "%v; re-encode the benchmark file as UTF-8", err)
				continue
			}
		}
		bm, err := bench.Load(b.Path)
		if err != nil {
			c.errorf(b.Pos, "benchmarks."+b.Name+".path", "%v", err)
			continue
		}
		path := "benchmarks." + b.Name + ".languages"
		reported, more := 0, 0
		for _, q := range bm.Questions {
			var missing []string
			for _, lang := range b.Eval.Languages {
				if q.Items[lang] == nil {
					missing = append(missing, lang)
				}
			}
			if len(missing) == 0 {
				continue
			}
			if reported == maxBenchIssues {
				more++
				continue
			}
			reported++
			list := strings.Join(missing, ", ")
			c.errorf(b.Pos, path, "%s:%d: question %q has no %s; remove %s from the languages, or use a file that has them", b.Path, q.Line, q.ID, list, list)
		}
		if more > 0 {
			c.errorf(b.Pos, path, "%s: %s more like the above", b.Path, plural(more, "question"))
		}
	}
}
