package runner

import (
	"testing"

	"github.com/crossin-lab/crossin/runner/plan"
	"github.com/crossin-lab/crossin/schema"
)

// TestRowSourceNamesArithmetic checks that a row's provenance names the
// embedded engine's code version and arithmetic path, both of which are
// in its eval key.
func TestRowSourceNamesArithmetic(t *testing.T) {
	spec, err := schema.Load("../experiments/quickstart.cue")
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Build(spec, plan.WithCodeVersion(plan.KindEval, "crossin-embedded/test"), plan.WithArithmetic("arm64-generic"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range p.Stages {
		if s.Kind != plan.KindScore {
			continue
		}
		n++
		if src := RowSource(p, s.ID); src.Engine != "crossin-embedded/test arm64-generic" {
			t.Errorf("%s: engine %q", s.ID, src.Engine)
		}
	}
	if n == 0 {
		t.Fatal("no score stage in the quickstart")
	}
}
