package plan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKeysIgnoreFieldOrder: keys are canonical, as Description says:
// writing the same spec (and the same report layout) with its fields in
// another order changes no key.
func TestKeysIgnoreFieldOrder(t *testing.T) {
	const layoutA = `report: layouts: main: {
		rows: ["model", "mixture"]
		k:    3
		baseline: mixture: "base"
		delta:    true
		decimals: 1
	}`
	const layoutB = `report: layouts: main: {
		decimals: 1
		delta:    true
		baseline: mixture: "base"
		k:    3
		rows: ["model", "mixture"]
	}`
	const reordered = `
experiments: grid: {
	training: {batch_size: 2, max_length: 64}
	benchmarks: ["mmlu", "logiqa"]
	seeds: [1, 2]
	mixtures: ["none", "base", "x2x"]
	models: ["tiny", "tiny2"]
	LAYOUT
}
benchmarks: {
	logiqa: {languages: ["English", "Chinese", "Vietnamese"], path: "data/logiqa.jsonl", task: "cross_logiqa"}
	mmlu: {mode: "loglik", languages: ["English", "Chinese", "Vietnamese"], path: "data/mmlu.jsonl", task: "cross_mmlu"}
}
mixtures: {
	x2x: {variants: x2x: {volume: 1, source: "par"}, base: {volume: 1, source: "base"}}
	base: base: {volume: 1, source: "base"}
	none: {}
}
data: {
	par: files: {for l in ["en", "zh", "vi"] {(l): "data/\(l).jsonl"}}
	base: {path: "data/base_en.jsonl", languages: ["en"]}
}
models: {
	tiny2: init: {seed: 2, tokenizer: "tok/tokenizer.json"}
	tiny: init: {seed: 1, tokenizer: "tok/tokenizer.json"}
}
`
	a := copyDir(t, "testdata/grid")
	if err := os.WriteFile(filepath.Join(a, "layout.cue"), []byte("experiments: grid: {"+layoutA+"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := copyDir(t, "testdata/grid")
	text := []byte(strings.ReplaceAll(reordered, "LAYOUT", layoutB))
	if err := os.WriteFile(filepath.Join(b, "grid.cue"), text, 0o644); err != nil {
		t.Fatal(err)
	}
	ka, kb := keys(build(t, a)), keys(build(t, b))
	if len(ka) == 0 || len(ka) != len(kb) {
		t.Fatalf("%d stages vs %d", len(ka), len(kb))
	}
	for id, k := range ka {
		if kb[id] != k {
			t.Errorf("%s: key changed with field order", id)
		}
	}
	// The layout is in the report's key: a real change does change it.
	c := copyDir(t, "testdata/grid")
	os.WriteFile(filepath.Join(c, "layout.cue"), []byte("experiments: grid: {"+strings.ReplaceAll(layoutA, "decimals: 1", "decimals: 2")+"}\n"), 0o644)
	if kc := keys(build(t, c)); kc["report/grid"] == ka["report/grid"] {
		t.Error("changing the layout's decimals did not change the report key")
	}
}

// TestCanonicalRawValues: a component holding raw JSON (as a report
// layout does) is canonical: keys sorted at every depth, numbers in one
// spelling, large integers exact.
func TestCanonicalRawValues(t *testing.T) {
	tests := []struct{ a, b string }{
		{`{"b":1,"a":{"d":[1,{"z":1,"y":2}],"c":true}}`, `{"a":{"c":true,"d":[1,{"y":2,"z":1}]},"b":1}`},
		{`{"x":1e-4}`, `{"x":0.0001}`},
		{`{"x":1.0}`, `{"x":1}`},
		{`{"seed":9007199254740993}`, `{"seed":9007199254740993}`},
	}
	for _, tt := range tests {
		da := Description{Version: KeyVersion, Kind: KindReport, Components: []Component{{Name: "layout", Value: value(rawJSON(tt.a))}}}
		db := Description{Version: KeyVersion, Kind: KindReport, Components: []Component{{Name: "layout", Value: value(rawJSON(tt.b))}}}
		if da.ActionID() != db.ActionID() {
			t.Errorf("%s and %s give different keys:\n%s\n%s", tt.a, tt.b, da.Canonical(), db.Canonical())
		}
	}
	d := Description{Version: KeyVersion, Kind: KindReport, Components: []Component{{Name: "v", Value: value(rawJSON(`{"seed":9007199254740993}`))}}}
	if got := string(d.Canonical()); !strings.Contains(got, "9007199254740993") {
		t.Errorf("large integer not kept exactly: %s", got)
	}
}

// TestFreshFileNotMemoized: a file saved within the last few seconds may
// be saved again within one mtime tick with the same size; its hash must
// not be served from memory then (watch mode and plan showed a stale key
// as "cached"). Like Go's build cache, a fresh mtime is not trusted.
func TestFreshFileNotMemoized(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "data.jsonl")
	memo := &HashMemo{Dir: filepath.Join(dir, "memo")}
	for name, hash := range map[string]func(string) (string, error){"HashFile": HashFile, "HashMemo": memo.HashFile} {
		t.Run(name, func(t *testing.T) {
			os.WriteFile(f, []byte(`{"a":1}`), 0o644)
			fi, _ := os.Stat(f)
			h1, err := hash(f)
			if err != nil {
				t.Fatal(err)
			}
			// A same-size save in the same mtime tick (the mtime is set
			// back to simulate a coarse clock).
			os.WriteFile(f, []byte(`{"a":2}`), 0o644)
			os.Chtimes(f, fi.ModTime(), fi.ModTime())
			h2, err := hash(f)
			if err != nil {
				t.Fatal(err)
			}
			if h1 == h2 {
				t.Fatalf("%s served the old content's hash for a fresh file", name)
			}
			// An old file is memoized (the memo is still useful).
			old := time.Now().Add(-time.Hour)
			os.Chtimes(f, old, old)
			if _, err := hash(f); err != nil {
				t.Fatal(err)
			}
		})
	}
}

type rawJSON string

func (r rawJSON) MarshalJSON() ([]byte, error) { return []byte(r), nil }
