// Package check finds, before anything runs, the mistakes in a loaded spec
// that the schema alone cannot see because they need the data, the
// mixture builder or the trainers: a mixture part without a usable data
// source, a local file whose format cannot be read or that is not UTF-8, a
// volume larger than its source when sampling without replacement (and a
// warning when a volume is far beyond it), a benchmark record that lacks a
// language the spec evaluates, and a model, template or loss reduction the
// experiment's trainer cannot train. `crossin validate` and `crossin plan`
// run it after schema.Load; every problem names the spec position, the data
// file and line where there is one, and how to fix it.
//
// Only local files are read. Data on the Hugging Face hub is checked when
// its stage downloads it.
package check

import (
	"fmt"
	"sort"

	"github.com/crossin-lab/crossin/mixture"
	"github.com/crossin-lab/crossin/schema"
)

// FarBeyond is the ratio of a part's volume to its source's usable items
// above which Spec warns that every item repeats many times.
const FarBeyond = 10

// Spec checks s. It returns the warnings (problems that do not stop a
// run) and, when there are errors, a *schema.Error listing all of them.
func Spec(s *schema.Spec) (warnings []schema.Issue, err error) {
	c := &checker{spec: s, sizes: map[string]*sourceSize{}}
	c.capabilities()
	c.mixtures()
	c.dataSources()
	c.volumes()
	c.benchmarks()
	sortIssues(c.warns)
	if len(c.errs) == 0 {
		return c.warns, nil
	}
	sortIssues(c.errs)
	return c.warns, &schema.Error{Issues: c.errs}
}

type checker struct {
	spec        *schema.Spec
	errs, warns []schema.Issue
	// sizes holds what was learnt about each local data source.
	sizes map[string]*sourceSize
}

func (c *checker) errorf(pos schema.Pos, path, format string, args ...any) {
	c.errs = append(c.errs, schema.Issue{Pos: pos, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) warnf(pos schema.Pos, path, format string, args ...any) {
	c.warns = append(c.warns, schema.Issue{Pos: pos, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// usedMixtures lists the mixtures some experiment trains on, in spec order.
func (c *checker) usedMixtures() []*schema.Mixture {
	used := map[string]bool{}
	for _, e := range c.spec.Experiments {
		for _, cell := range e.Cells {
			used[cell.Mixture] = true
		}
	}
	var out []*schema.Mixture
	for _, m := range c.spec.Mixtures {
		if used[m.Name] && !m.Empty() {
			out = append(out, m)
		}
	}
	return out
}

// mixtures maps every used mixture onto the builder's spec, which is where
// a part whose data source cannot serve its variant is refused (a trans
// part on an x-llm directory, a cross-lingual part on one file of one
// language, ...). The builder's message already names the data source's
// position.
func (c *checker) mixtures() {
	for _, m := range c.usedMixtures() {
		if _, err := mixture.FromSchema(c.spec, m.Name); err != nil {
			c.errorf(schema.Pos{}, "", "%v", err)
		}
	}
}

func sortIssues(list []schema.Issue) {
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i].Pos, list[j].Pos
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}
