package plan

import (
	"strings"
	"testing"
)

func TestParseKind(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Kind
		err  string
	}{
		{"model", KindModel, ""},
		{"data", KindData, ""},
		{"train", KindTrain, ""},
		{"eval", KindEval, ""},
		{"score", KindScore, ""},
		{"report", KindReport, ""},
		{"Train", "", `unknown stage kind "Train" (kinds: model, data, train, eval, score, report)`},
		{"", "", `unknown stage kind ""`},
		{"trainer", "", `unknown stage kind "trainer"`},
	} {
		got, err := ParseKind(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseKind(%q) = %q, %v; want error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseKind(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestKindsPipelineOrder checks that Kinds is the pipeline order the plan
// relies on: in a built grid every stage of every kind appears, and each
// stage depends only on stages of earlier kinds, so sorting by rank is a
// topological order.
func TestKindsPipelineOrder(t *testing.T) {
	for i, k := range Kinds {
		if k.rank() != i {
			t.Errorf("%s.rank() = %d, want %d", k, k.rank(), i)
		}
	}
	if r := Kind("nope").rank(); r != len(Kinds) {
		t.Errorf("unknown kind rank %d, want %d (last)", r, len(Kinds))
	}
	p := build(t, "testdata/grid")
	seen := map[Kind]bool{}
	for _, s := range p.Stages {
		seen[s.Kind] = true
		if s.Kind.rank() == len(Kinds) {
			t.Errorf("stage %s has kind %q, which is not in Kinds", s.ID, s.Kind)
		}
		for _, d := range s.Deps {
			if dk := p.Stage(d).Kind; dk.rank() >= s.Kind.rank() {
				t.Errorf("stage %s (%s) depends on %s (%s), not an earlier kind", s.ID, s.Kind, d, dk)
			}
		}
	}
	for _, k := range Kinds {
		if !seen[k] {
			t.Errorf("the test grid has no %s stage: every kind needs a builder the grid exercises", k)
		}
	}
}
