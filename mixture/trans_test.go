package mixture

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/crossin-lab/crossin/schema"
)

// TestTransFromParallel: without a sentence file, trans pairs the parallel
// set's instructions as the reference builder's mode 3 does: the
// instruction in X as input, the same item's English instruction as output,
// instruction "Translate the following sentence into English.", no marker.
func TestTransFromParallel(t *testing.T) {
	en := writeFile(t, "en.jsonl", `{"id":0,"instruction":"Name a fruit.","input":"ctx","output":"Apple."}`+"\n"+`{"id":1,"instruction":"Add 2 and 2.","input":"","output":"4"}`+"\n")
	zh := writeFile(t, "zh.jsonl", `{"id":0,"instruction":"说一种水果。","input":"语境","output":"苹果。"}`+"\n"+`{"id":1,"instruction":"二加二。","input":"","output":"四"}`+"\n")
	vi := writeFile(t, "vi.jsonl", `{"id":1,"instruction":"Cộng 2 và 2.","input":"","output":"bốn"}`+"\n")
	for _, tt := range []struct {
		name     string
		sampling Sampling
		dir      string
	}{
		{"pcg x2en", WithReplacement, ""},
		{"pcg en2x", WithReplacement, DirEn2X},
		{"without replacement", WithoutReplacement, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := Spec{Seed: 9, Sampling: tt.sampling, Variants: []Variant{{Mode: Trans, Count: 2, Direction: tt.dir}},
				Sources: Sources{Parallel: map[string]string{"en": en, "zh": zh, "vi": vi}}}
			res, err := Build(context.Background(), spec)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Records) != 2 {
				t.Fatalf("%d records", len(res.Records))
			}
			instr := map[string]string{"en:0": "Name a fruit.", "en:1": "Add 2 and 2.", "zh:0": "说一种水果。", "zh:1": "二加二。", "vi:1": "Cộng 2 và 2."}
			for _, r := range res.Records {
				x := r.SrcLang
				if tt.dir == DirEn2X {
					x = r.TgtLang
				}
				if (tt.dir == "" && r.TgtLang != "en") || (tt.dir == DirEn2X && r.SrcLang != "en") || x == "en" {
					t.Errorf("%s: pair %s>%s", r.ID, r.SrcLang, r.TgtLang)
				}
				if len(r.SourceIDs) != 2 {
					t.Fatalf("%s: source ids %v", r.ID, r.SourceIDs)
				}
				want := "Translate the following sentence into English."
				if tt.dir == DirEn2X {
					want = "Translate the following sentence into " + map[string]string{"zh": "Chinese", "vi": "Vietnamese"}[r.TgtLang] + "."
				}
				if r.Instruction != want || r.Input != instr[r.SourceIDs[0]] || r.Output != instr[r.SourceIDs[1]] {
					t.Errorf("%s = %+v; want instruction %q, input %q, output %q", r.ID, r, want, instr[r.SourceIDs[0]], instr[r.SourceIDs[1]])
				}
			}
			if len(res.Coverage) != 3 {
				t.Errorf("coverage of the parallel set not reported: %+v", res.Coverage)
			}
		})
	}
}

// TestParquetFolderSource builds Base from a data source declared as in
// experiments/paper.cue (format "parquet", path a folder of shards), the
// Open-Platypus layout, through the schema as `crossin data build` does.
func TestParquetFolderSource(t *testing.T) {
	type platypus struct {
		Instruction string `parquet:"instruction"`
		Input       string `parquet:"input"`
		Output      string `parquet:"output"`
		DataSource  string `parquet:"data_source"`
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "platypus", "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	shards := map[string][]platypus{
		"train-00000-of-00002-a.parquet": {{"q0", "", "a0", "scibench"}, {"q1", "x", "a1", "airoboros"}},
		"train-00001-of-00002-b.parquet": {{"q2", "", "a2", "leetcode"}},
	}
	for name, rows := range shards {
		if err := parquet.WriteFile(filepath.Join(dir, "platypus", "data", name), rows); err != nil {
			t.Fatal(err)
		}
	}
	spec := `
data: "open-platypus": {format: "parquet", languages: ["en"], path: "platypus/data"}
mixtures: {
	base: base: {source: "open-platypus"}
	replay: base: {source: "open-platypus", sampling: "numpy", seed: 0}
}
`
	if err := os.WriteFile(filepath.Join(dir, "spec.cue"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := schema.Load(filepath.Join(dir, "spec.cue"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"base", "replay"} {
		sp, err := FromSchema(s, name)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Build(context.Background(), sp)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got []string
		for _, r := range res.Records {
			got = append(got, r.Instruction+"/"+r.Output)
		}
		if len(got) != 3 || !strings.Contains(strings.Join(got, " "), "q2/a2") {
			t.Errorf("%s: records %v, want all three rows of both shards", name, got)
		}
		if name == "replay" {
			// python3-numpy: np.random.seed(0); np.random.choice(3, 3, replace=False) == [2, 1, 0]
			if want := "q2/a2 q1/a1 q0/a0"; strings.Join(got, " ") != want {
				t.Errorf("replay order %v, want %s", got, want)
			}
		}
	}
}
