package runner

import (
	"context"
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/resultset"
	"github.com/crossin-lab/crossin/runner/plan"
	"github.com/crossin-lab/crossin/schema"
)

// The paper's spec names hub revisions by branch ("main") and its image by
// tag: each row records the commits they resolved to, the image digest,
// and every such reference as unpinned, unless a lock vouches for it.
func TestRowSourceRecordsPinsAndUnpinned(t *testing.T) {
	spec, err := schema.Load("../experiments/paper.cue")
	if err != nil {
		t.Fatal(err)
	}
	commit, digest := strings.Repeat("a", 40), "sha256:"+strings.Repeat("b", 64)
	p, err := plan.Build(spec,
		plan.WithRevisionResolver(func(context.Context, string, string, string) (string, error) { return commit, nil }),
		plan.WithImageResolver(func(context.Context, string) (string, error) { return digest, nil }))
	if err != nil {
		t.Fatal(err)
	}
	var score *plan.Stage
	for _, s := range p.Stages {
		if s.Kind == plan.KindScore && strings.Contains(s.ID, "gemma-2b/x2x") {
			score = s
			break
		}
	}
	if score == nil {
		t.Fatal("no score stage of a tuned gemma-2b cell in the paper's plan")
	}
	src := RowSource(p, score.ID)
	var kinds []string
	for _, s := range src.Stages {
		kinds = append(kinds, s.Kind)
	}
	if got := strings.Join(kinds, ","); got != "model,data,train,eval,score" {
		t.Errorf("stages %s", got)
	}
	if src.ModelCommit != commit || src.BenchmarkCommit != commit || len(src.DataCommits) == 0 || src.ImageDigest != digest {
		t.Errorf("pins: model %q benchmark %q data %v image %q", src.ModelCommit, src.BenchmarkCommit, src.DataCommits, src.ImageDigest)
	}
	ev := p.Stage(score.Inputs[0].Stage)
	if ev == nil || ev.Backend == nil || ev.Backend.Image == "" || strings.Contains(ev.Backend.Image, "@sha256:") {
		t.Fatalf("the paper's eval stage has no image tag: %+v", ev)
	}
	want := []string{"model google/gemma-2b@main", "dataset SeaEval/SeaEval_datasets@main", "image " + ev.Backend.Image}
	for _, w := range want {
		found := false
		for _, u := range src.Unpinned {
			found = found || u == w
		}
		if !found {
			t.Errorf("unpinned %q missing from %q", w, src.Unpinned)
		}
	}
	set := &resultset.Set{Rows: []resultset.Row{{Source: src}}}
	ApplyPins(set, func(ref string) bool { return ref != "model google/gemma-2b@main" })
	if u := set.Rows[0].Source.Unpinned; len(u) != 1 || u[0] != "model google/gemma-2b@main" {
		t.Errorf("after a lock pins all but the model: unpinned %q", u)
	}
}
