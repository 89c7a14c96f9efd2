package mixture

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/crossin-lab/crossin/internal/sharedtest"
	"github.com/crossin-lab/crossin/schema"
)

// replayFixture writes a small reference-layout data set: an English Base
// array and four position-aligned Alpaca arrays (en, zh, vi, es), some
// inputs empty and one Chinese output empty (the reference keeps it).
func replayFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	put := func(name string, v any) {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	type rec struct {
		Instruction string `json:"instruction"`
		Input       string `json:"input"`
		Output      string `json:"output"`
	}
	var base []rec
	for i := range 25 {
		base = append(base, rec{fmt.Sprintf("platypus q%d", i), "", fmt.Sprintf("platypus a%d", i)})
	}
	put("base.json", base)
	for _, l := range []string{"en", "zh", "vi", "es"} {
		var rs []rec
		for i := range 40 {
			in := ""
			if i%3 == 0 {
				in = fmt.Sprintf("%s input %d", l, i)
			}
			out := fmt.Sprintf("%s answer %d", l, i)
			if l == "zh" && i == 5 {
				out = ""
			}
			rs = append(rs, rec{fmt.Sprintf("%s question %d", l, i), in, out})
		}
		put(l+".json", rs)
	}
	return dir
}

// referenceRecords runs testdata/reference_builder.py (numpy's own draws).
func referenceRecords(t *testing.T, cfg map[string]any) []byte {
	t.Helper()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		py = "python3"
	}
	if err := exec.Command(py, "-c", "import numpy").Run(); err != nil {
		if os.Getenv("CROSSIN_REQUIRE_NUMPY") == "1" {
			t.Fatalf("python3-numpy is required (CROSSIN_REQUIRE_NUMPY=1) but %s cannot import numpy: %v", py, err)
		}
		t.Skipf("skipping the comparison with the reference builder: %s cannot import numpy (apt-get install python3-numpy)", py)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(t.TempDir(), "cfg.json")
	if err := os.WriteFile(cfgFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "testdata/reference_builder.py", cfgFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("reference builder: %v\n%s", err, stderr.Bytes())
	}
	return out
}

// essentials keeps what the reference writes of each record.
func essentials(recs []Record) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, r := range recs {
		enc.Encode(map[string]string{"instruction": r.Instruction, "input": r.Input, "output": r.Output})
	}
	return buf.Bytes()
}

func canonical(t *testing.T, jsonl []byte) []string {
	t.Helper()
	var out []string
	for _, line := range bytes.Split(bytes.TrimSpace(jsonl), []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		var m map[string]string
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("bad line %q: %v", line, err)
		}
		b, _ := json.Marshal(m)
		out = append(out, string(b))
	}
	return out
}

// TestNumpyReplaysReference builds mixtures from a CUE spec with sampling
// "numpy", as `crossin data build --mixture` does, and compares them item
// by item, in order, with the reference builder's draws made by numpy.
func TestNumpyReplaysReference(t *testing.T) {
	dir := replayFixture(t)
	spec := `
data: {
	platypus: {format: "alpaca-json", languages: ["en"], path: "base.json"}
	alpaca: {format: "alpaca-json", align: "index", files: {for l in ["en", "zh", "vi", "es"] {(l): "\(l).json"}}}
}
_np: {sampling: "numpy", seed: 0}
mixtures: {
	"all-modes-30": {
		base: _np & {source: "platypus"}
		variants: {
			en2x: _np & {source: "alpaca", volume: 30}
			x2en: _np & {source: "alpaca", volume: 30}
			trans: _np & {source: "alpaca", volume: 30}
		}
	}
	"en2x-all-seed7": variants: en2x: {source: "alpaca", volume: "all", sampling: "numpy", seed: 7}
	"trans-zh-12": variants: trans: {source: "alpaca", volume: 12, sampling: "numpy", seed: 3, languages: ["en", "zh"]}
}
`
	if err := os.WriteFile(filepath.Join(dir, "spec.cue"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := schema.Load(filepath.Join(dir, "spec.cue"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, l := range []string{"en", "zh", "vi", "es"} {
		files[l] = filepath.Join(dir, l+".json")
	}
	all4 := []string{"en", "zh", "vi", "es"}
	tests := []struct {
		mixture string
		cfg     map[string]any
		n       int
	}{
		{"all-modes-30", map[string]any{"seed": 0, "base": filepath.Join(dir, "base.json"), "languages": all4, "files": files, "volume": 30, "modes": []int{1, 2, 3}}, 25 + 90},
		{"en2x-all-seed7", map[string]any{"seed": 7, "languages": all4, "files": files, "volume": -1, "modes": []int{1}}, 40},
		{"trans-zh-12", map[string]any{"seed": 3, "languages": []string{"en", "zh"}, "files": files, "volume": 12, "modes": []int{3}}, 12},
	}
	for _, tt := range tests {
		t.Run(tt.mixture, func(t *testing.T) {
			sp, err := FromSchema(s, tt.mixture)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Build(context.Background(), sp)
			if err != nil {
				t.Fatal(err)
			}
			got := canonical(t, essentials(res.Records))
			want := canonical(t, referenceRecords(t, tt.cfg))
			if len(want) != tt.n {
				t.Fatalf("the reference wrote %d records, want %d", len(want), tt.n)
			}
			if len(got) != len(want) {
				t.Fatalf("crossin wrote %d records, the reference %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("record %d (%s):\ncrossin   %s\nreference %s", i, res.Records[i].ID, got[i], want[i])
				}
			}
		})
	}
}

// TestNumpyReplaysReferenceShared replays the reference at paper scale on
// the real Alpaca file (52,002 records, as data/alpaca/alpaca_en.json):
// Base all, and modes 1-3 at volume 15000 over four languages. The
// translations the paper used are not published, so the English file
// stands in for every language; the draws (four permutations of 52,002,
// 15,000 language and item choices) are what is checked.
func TestNumpyReplaysReferenceShared(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 23 MB of shared data and runs numpy at paper scale")
	}
	en := sharedtest.Path(t, "data/instructions/alpaca_en/alpaca_data.json")
	langs := []string{"en", "zh", "vi", "es"}
	files := map[string]string{}
	for _, l := range langs {
		files[l] = en
	}
	want := canonical(t, referenceRecords(t, map[string]any{"seed": 0, "base": en, "languages": langs, "files": files, "volume": 15000, "modes": []int{1, 2, 3}}))
	sp := Spec{Name: "paper-scale", Languages: langs, Sampling: Numpy, Variants: []Variant{
		{Mode: Base, Count: All}, {Mode: En2X, Count: 15000}, {Mode: X2En, Count: 15000}, {Mode: Trans, Count: 15000},
	}, Sources: Sources{English: en, Parallel: files}}
	res, err := Build(context.Background(), sp)
	if err != nil {
		t.Fatal(err)
	}
	got := canonical(t, essentials(res.Records))
	if len(want) != 52002+3*15000 || len(got) != len(want) {
		t.Fatalf("crossin wrote %d records, the reference %d (want %d)", len(got), len(want), 52002+3*15000)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("record %d (%s):\ncrossin   %s\nreference %s", i, res.Records[i].ID, got[i], want[i])
		}
	}
}
