package mixture

import (
	"context"
	"os"
	"path/filepath"
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

// TestFromSchemaRefusesUnreplayable: what numpy sampling cannot replay is
// refused when the spec is mapped, before any data is read, at the
// mixture's position.
func TestFromSchemaRefusesUnreplayable(t *testing.T) {
	dir := t.TempDir()
	for _, l := range []string{"en", "zh"} {
		writeFileAt(t, filepath.Join(dir, l+".json"), `[{"instruction":"q","output":"a"}]`)
	}
	spec := `
data: par: {format: "alpaca-json", align: "index", files: {en: "en.json", zh: "zh.json"}}
mixtures: {
	"big-seed": variants: en2x: {source: "par", volume: 1, sampling: "numpy", seed: 4294967296}
	"negative-seed": variants: en2x: {source: "par", volume: 1, sampling: "numpy", seed: -1}
	mixed: variants: {
		en2x: {source: "par", volume: 1, sampling: "numpy", seed: 0}
		x2en: {source: "par", volume: 1}
	}
	"trans-both": variants: trans: {source: "par", volume: 1, sampling: "numpy", seed: 0, direction: "both"}
	ok: variants: trans: {source: "par", volume: 1, sampling: "numpy", seed: 0}
}
`
	writeFileAt(t, filepath.Join(dir, "spec.cue"), spec)
	s, err := schema.Load(filepath.Join(dir, "spec.cue"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ mixture, want string }{
		{"big-seed", "spec.cue:4:2: mixture big-seed: variant en2x: "},
		{"big-seed", "seed 4294967296: sampling numpy takes seeds in [0, 2^32)"},
		{"negative-seed", "seed -1: sampling numpy takes seeds in [0, 2^32)"},
		{"mixed", "give every part of the mixture sampling numpy, or none"},
		{"trans-both", `direction "both" and pairs have no reference draws`},
	} {
		_, err := FromSchema(s, tt.mixture)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.mixture, err, tt.want)
		}
	}
	if _, err := FromSchema(s, "ok"); err != nil {
		t.Errorf("ok: %v", err)
	}
}

func writeFileAt(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
