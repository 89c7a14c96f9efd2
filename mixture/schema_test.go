package mixture

import (
	"context"
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/schema"
)

// TestFromSchemaQuickstart builds the quickstart's mixtures from its CUE spec.
func TestFromSchemaQuickstart(t *testing.T) {
	s, err := schema.Load("../experiments/quickstart.cue")
	if err != nil {
		t.Fatalf("the repository's quickstart spec does not load: %v", err)
	}
	for _, name := range []string{"base-200", "x2x-200", "en2x-200"} {
		if s.Mixture(name) == nil {
			t.Fatalf("quickstart has no mixture %s any more (update this test with the spec)", name)
		}
		spec, err := FromSchema(s, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		res, err := Build(context.Background(), spec)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := 200
		if name != "base-200" {
			want = 400
		}
		if len(res.Records) != want {
			t.Errorf("%s: %d records, want %d", name, len(res.Records), want)
		}
		again, _ := Build(context.Background(), spec)
		if again.Hash != res.Hash {
			t.Errorf("%s: not deterministic", name)
		}
	}
	if _, err := FromSchema(s, "nope"); err == nil || !strings.Contains(err.Error(), `no mixture "nope"`) {
		t.Errorf("unknown mixture: err = %v", err)
	}
}
