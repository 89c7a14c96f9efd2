package mixture

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/dataset"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

const sample = "../experiments/data"

// sampleSpec is a mixture of every mode over the shipped quickstart sample.
func sampleSpec() Spec {
	return Spec{
		Name:      "sample",
		Languages: []string{"en", "zh", "vi"},
		Seed:      42,
		Variants: []Variant{
			{Mode: Base, Count: 4},
			{Mode: En2X, Count: 4},
			{Mode: X2En, Count: 4},
			{Mode: X2X, Count: 4},
			{Mode: Trans, Count: 4},
		},
		Sources: Sources{
			English:     sample + "/alpaca/base_en.jsonl",
			Parallel:    map[string]string{"en": sample + "/alpaca/en.jsonl", "zh": sample + "/alpaca/zh.jsonl", "vi": sample + "/alpaca/vi.jsonl"},
			Translation: sample + "/flores/flores.sample.jsonl",
		},
	}
}

func TestGolden(t *testing.T) {
	res, err := Build(context.Background(), sampleSpec())
	if err != nil {
		t.Fatal(err)
	}
	got := Encode(res.Records)
	golden := filepath.Join("testdata", "sample.golden.jsonl")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("mixture differs from %s (run go test -update after checking the change):\n%s", golden, got)
	}
	if res.Hash != HashRecords(res.Records) || !strings.HasPrefix(res.Hash, "sha256:") {
		t.Errorf("hash %s", res.Hash)
	}
}

// TestDeterminism builds the same spec at different GOMAXPROCS and seeds:
// same seed, same bytes; another seed, other bytes.
func TestDeterminism(t *testing.T) {
	spec := sampleSpec()
	for i := range spec.Variants {
		spec.Variants[i].Count = 200
	}
	var hashes []string
	for _, procs := range []int{1, 2, 8} {
		prev := runtime.GOMAXPROCS(procs)
		res, err := Build(context.Background(), spec)
		runtime.GOMAXPROCS(prev)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, res.Hash)
	}
	if hashes[0] != hashes[1] || hashes[1] != hashes[2] {
		t.Errorf("hashes differ across GOMAXPROCS: %v", hashes)
	}
	spec.Seed = 43
	res, err := Build(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Hash == hashes[0] {
		t.Error("a different seed gave the same mixture")
	}
	// A variant's draws do not depend on another variant's volume.
	a := sampleSpec()
	b := sampleSpec()
	b.Variants[0].Count = 10
	ra, _ := Build(context.Background(), a)
	rb, _ := Build(context.Background(), b)
	if ids(ra.Records, X2X) != ids(rb.Records, X2X) {
		t.Error("changing the base volume changed the x2x draws")
	}
}

func ids(rs []Record, m Mode) string {
	var out []string
	for _, r := range rs {
		if r.Mode == m {
			out = append(out, r.ID+"="+strings.Join(r.SourceIDs, ","))
		}
	}
	sortStrings(out)
	return strings.Join(out, ";")
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// loaded is the parallel data of the sample or of the shared full sets.
type loaded struct {
	in   Inputs
	byID map[string]map[string]*dataset.Record // lang -> id -> record
}

func loadInputs(t testing.TB, en, base string, par map[string]string, flores string, langs []string, minScore float64) loaded {
	t.Helper()
	var sets []*dataset.Set
	l := loaded{byID: map[string]map[string]*dataset.Record{}}
	for _, lang := range langs {
		opts := []dataset.Option{dataset.WithLang(lang)}
		if minScore > 0 {
			opts = append(opts, dataset.WithMinScore(minScore))
		}
		s, err := dataset.Load(par[lang], opts...)
		if err != nil {
			t.Fatal(err)
		}
		sets = append(sets, s)
		m := map[string]*dataset.Record{}
		for i := range s.Records {
			m[s.Records[i].ID] = &s.Records[i]
		}
		l.byID[lang] = m
	}
	p, err := dataset.Align(sets...)
	if err != nil {
		t.Fatal(err)
	}
	b, err := dataset.Load(base, dataset.WithLang("en"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := dataset.LoadSentences(flores, langs)
	if err != nil {
		t.Fatal(err)
	}
	l.in = Inputs{English: b, Parallel: p, Sentences: s}
	return l
}

// checkRules verifies the language rules and the provenance of every record.
func checkRules(t *testing.T, l loaded, res *Result, allowSame bool, marker Marker) {
	t.Helper()
	seenID := map[string]bool{}
	for _, r := range res.Records {
		if seenID[r.ID] {
			t.Fatalf("duplicate record id %s", r.ID)
		}
		seenID[r.ID] = true
		switch r.Mode {
		case Base:
			if r.SrcLang != "en" || r.TgtLang != "en" {
				t.Fatalf("%s: base record with languages %s>%s", r.ID, r.SrcLang, r.TgtLang)
			}
		case En2X:
			if r.SrcLang != "en" || r.TgtLang == "en" {
				t.Fatalf("%s: en2x record with languages %s>%s (response must not be English)", r.ID, r.SrcLang, r.TgtLang)
			}
		case X2En:
			if r.SrcLang == "en" || r.TgtLang != "en" {
				t.Fatalf("%s: x2en record with languages %s>%s", r.ID, r.SrcLang, r.TgtLang)
			}
		case X2X:
			if r.SrcLang == r.TgtLang && !allowSame {
				t.Fatalf("%s: x2x record with equal languages %s", r.ID, r.SrcLang)
			}
		case Trans:
			if r.SrcLang == r.TgtLang {
				t.Fatalf("%s: trans into the same language", r.ID)
			}
			if r.TgtLang != "en" {
				t.Fatalf("%s: default trans direction is x2en, got %s>%s", r.ID, r.SrcLang, r.TgtLang)
			}
			want := "Translate the following sentence into " + dataset.LanguageNames[r.TgtLang] + "."
			if r.Instruction != want {
				t.Fatalf("%s: instruction %q", r.ID, r.Instruction)
			}
			s := l.in.Sentences
			k := -1
			id := strings.TrimPrefix(r.SourceIDs[0], r.SrcLang+":")
			for i, x := range s.IDs {
				if x == id {
					k = i
				}
			}
			if k < 0 || s.Text[s.LangIndex(r.SrcLang)][k] != r.Input || s.Text[s.LangIndex(r.TgtLang)][k] != r.Output {
				t.Fatalf("%s: translation pair does not match sentence %s", r.ID, id)
			}
		}
		if r.Mode == En2X || r.Mode == X2En || r.Mode == X2X {
			// The instruction comes from the source language record and the
			// response from the target language record of the same item.
			srcID := strings.TrimPrefix(r.SourceIDs[0], r.SrcLang+":")
			tgtID := srcID
			if len(r.SourceIDs) > 1 {
				tgtID = strings.TrimPrefix(r.SourceIDs[1], r.TgtLang+":")
			}
			if srcID != tgtID {
				t.Fatalf("%s: paired different items %v", r.ID, r.SourceIDs)
			}
			src, tgt := l.byID[r.SrcLang][srcID], l.byID[r.TgtLang][tgtID]
			if src == nil || tgt == nil {
				t.Fatalf("%s: source %v missing a language", r.ID, r.SourceIDs)
			}
			wantInput, wantInstr := src.Input, src.Instruction
			switch marker {
			case MarkerCode:
				wantInput += "\n[" + r.TgtLang + "]"
			case MarkerInstruction:
				wantInstr += " Answer in " + dataset.LanguageNames[r.TgtLang] + "."
			}
			if r.Instruction != wantInstr || r.Input != wantInput || r.Output != tgt.Output {
				t.Fatalf("%s: record does not match its sources %v:\n%+v", r.ID, r.SourceIDs, r)
			}
		}
	}
}

func TestLanguageRulesSample(t *testing.T) {
	dir := sample + "/alpaca/"
	l := loadInputs(t, dir+"en.jsonl", dir+"base_en.jsonl", map[string]string{"en": dir + "en.jsonl", "zh": dir + "zh.jsonl", "vi": dir + "vi.jsonl"}, sample+"/flores/flores.sample.jsonl", []string{"en", "zh", "vi"}, 0)
	tests := []struct {
		name      string
		allowSame bool
		marker    Marker
		sampling  Sampling
	}{
		{"reference", false, "", ""},
		{"allow same", true, "", ""},
		{"instruction marker", false, MarkerInstruction, ""},
		{"no marker", false, MarkerNone, ""},
		{"without replacement", false, "", WithoutReplacement},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := Spec{Languages: []string{"en", "zh", "vi"}, Seed: 7, Sampling: tt.sampling, Variants: []Variant{
				{Mode: Base, Count: 100},
				{Mode: En2X, Count: 90, Marker: tt.marker},
				{Mode: X2En, Count: 90, Marker: tt.marker},
				{Mode: X2X, Count: 90, Marker: tt.marker, AllowSame: tt.allowSame},
				{Mode: Trans, Count: 150},
			}}
			res, err := Build(context.Background(), spec, WithInputs(l.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Records) != 520 {
				t.Fatalf("%d records, want 520", len(res.Records))
			}
			wantMarker := tt.marker
			if wantMarker == "" {
				wantMarker = MarkerCode
			}
			checkRules(t, l, res, tt.allowSame, wantMarker)
			if tt.sampling == WithoutReplacement {
				for _, m := range []Mode{Base, En2X, X2En, X2X, Trans} {
					seen := map[string]bool{}
					for _, r := range res.Records {
						if r.Mode != m {
							continue
						}
						item := strings.SplitN(r.SourceIDs[0], ":", 2)[1]
						if seen[item] {
							t.Fatalf("%s: item %s drawn twice without replacement", m, item)
						}
						seen[item] = true
					}
				}
			}
			equal := 0
			for _, r := range res.Records {
				if r.Mode == X2X && r.SrcLang == r.TgtLang {
					equal++
				}
			}
			if tt.allowSame && equal == 0 {
				t.Error("allow_same: no x2x record with equal languages among 90 (expected about 30)")
			}
		})
	}
}

func TestAllVolume(t *testing.T) {
	en := writeFile(t, "en.json", `[{"instruction":"i0","output":"o0"},{"instruction":"i1","output":"o1"},{"instruction":"i2","output":"o2"}]`)
	zh := writeFile(t, "zh.jsonl", `{"id":0,"instruction":"z0","input":"","output":"y0"}`+"\n"+`{"id":2,"instruction":"z2","input":"","output":"y2"}`+"\n")
	spec := Spec{Seed: 1, Variants: []Variant{{Mode: Base, Count: All}, {Mode: En2X, Count: All}, {Mode: X2X, Count: All}},
		Sources: Sources{English: en, Parallel: map[string]string{"zh": zh}}}
	// With replacement (the reference): as many draws as the English set
	// has records (3), each from the items with both languages (0 and 2).
	res, err := Build(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[Mode]int{}
	for _, r := range res.Records {
		counts[r.Mode]++
		if r.Mode != Base && (strings.Contains(r.Instruction, "1") || strings.Contains(r.Output, "1")) {
			t.Errorf("record %s uses item 1, which has no Chinese: %+v", r.ID, r)
		}
	}
	if counts[Base] != 3 || counts[En2X] != 3 || counts[X2X] != 3 || len(res.Skipped) != 0 {
		t.Errorf("with replacement: counts %v, skipped %v", counts, res.Skipped)
	}
	if len(res.Coverage) != 2 || res.Coverage[1].Present != 2 {
		t.Errorf("coverage %+v", res.Coverage)
	}
	// Without replacement: every usable item once; item 1 is skipped, counted.
	spec.Sampling = WithoutReplacement
	if res, err = Build(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	counts = map[Mode]int{}
	for _, r := range res.Records {
		counts[r.Mode]++
	}
	if counts[Base] != 3 || counts[En2X] != 2 || counts[X2X] != 2 || res.Skipped["en2x"] != 1 || res.Skipped["x2x"] != 1 {
		t.Errorf("without replacement: counts %v, skipped %v", counts, res.Skipped)
	}
}

func TestTransDirections(t *testing.T) {
	fl := writeFile(t, "f.jsonl", `{"id":"a","en":"Hello.","zh":"你好。","vi":"Xin chào."}`+"\n"+`{"id":"b","en":"Bye.","zh":"再见。","vi":"Tạm biệt."}`+"\n")
	tests := []struct {
		dir   string
		pairs []Pair
		ok    func(p Pair) bool
	}{
		{DirX2En, nil, func(p Pair) bool { return p.Tgt == "en" && p.Src != "en" }},
		{DirEn2X, nil, func(p Pair) bool { return p.Src == "en" && p.Tgt != "en" }},
		{DirBoth, nil, func(p Pair) bool { return (p.Src == "en") != (p.Tgt == "en") }},
		{DirAny, nil, func(p Pair) bool { return p.Src != p.Tgt }},
		{"", []Pair{{"zh", "vi"}}, func(p Pair) bool { return p == Pair{"zh", "vi"} }},
	}
	for _, tt := range tests {
		spec := Spec{Languages: []string{"en", "zh", "vi"}, Seed: 3, Variants: []Variant{{Mode: Trans, Count: 60, Direction: tt.dir, Pairs: tt.pairs}}, Sources: Sources{Translation: fl}}
		res, err := Build(context.Background(), spec)
		if err != nil {
			t.Fatalf("%s: %v", tt.dir, err)
		}
		seen := map[Pair]bool{}
		for _, r := range res.Records {
			p := Pair{r.SrcLang, r.TgtLang}
			if !tt.ok(p) {
				t.Fatalf("direction %q %v: got pair %v", tt.dir, tt.pairs, p)
			}
			seen[p] = true
		}
		if tt.dir == DirAny && len(seen) != 6 {
			t.Errorf("any: saw %d of 6 pairs in 60 draws", len(seen))
		}
	}
}

func TestSpecErrors(t *testing.T) {
	en := writeFile(t, "en.json", `[{"instruction":"i0","output":"o0"},{"instruction":"i1","output":"o1"}]`)
	zh := writeFile(t, "zh.jsonl", `{"id":5,"instruction":"z","input":"","output":"y"}`+"\n")
	src := Sources{English: en, Parallel: map[string]string{"zh": zh}}
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"unknown language", Spec{Languages: []string{"en", "xx"}, Variants: []Variant{{Mode: En2X, Count: 1}}, Sources: src}, `unknown language code "xx"`},
		{"no variants", Spec{Sources: src}, "no variants"},
		{"zero count", Spec{Variants: []Variant{{Mode: Base, Count: 0}}, Sources: src}, "count 0"},
		{"unknown mode", Spec{Variants: []Variant{{Mode: "y2z", Count: 1}}, Sources: src}, "unknown variant mode"},
		{"duplicate names", Spec{Variants: []Variant{{Mode: Base, Count: 1}, {Mode: Base, Count: 1}}, Sources: src}, "two variants named base"},
		{"base too large", Spec{Variants: []Variant{{Mode: Base, Count: 3}}, Sources: src}, "English set has 2"},
		{"disjoint ids", Spec{Variants: []Variant{{Mode: En2X, Count: 1}}, Sources: src}, "no source item has both en and zh"},
		{"language without data", Spec{Languages: []string{"en", "zh", "vi"}, Variants: []Variant{{Mode: X2En, Count: 1}}, Sources: src}, "language vi has no parallel instruction file"},
		{"trans without parallel data", Spec{Languages: []string{"en", "vi"}, Variants: []Variant{{Mode: Trans, Count: 1}}, Sources: src}, "language vi has no parallel instruction file (trans pairs the instructions of the parallel set"},
		{"trans over disjoint ids", Spec{Variants: []Variant{{Mode: Trans, Count: 1}}, Sources: src}, "no source item has both zh and en"},
		{"numpy seed too large", Spec{Seed: 1 << 32, Sampling: Numpy, Variants: []Variant{{Mode: Base, Count: 1}}, Sources: src}, "sampling numpy takes seeds in [0, 2^32)"},
		{"numpy with min score", Spec{Sampling: Numpy, Variants: []Variant{{Mode: En2X, Count: 1}}, Sources: Sources{English: en, Parallel: src.Parallel, MinScore: 0.5}}, "drop min_score (0.5)"},
		{"numpy mixed with pcg", Spec{Variants: []Variant{{Mode: Base, Count: 1, Sampling: Numpy}, {Mode: En2X, Count: 1}}, Sources: src}, "give every part of the mixture sampling numpy, or none"},
		{"numpy trans both", Spec{Sampling: Numpy, Variants: []Variant{{Mode: Trans, Count: 1, Direction: DirBoth}}, Sources: src}, `direction "both" and pairs have no reference draws`},
		{"numpy base too large", Spec{Sampling: Numpy, Variants: []Variant{{Mode: Base, Count: 3}}, Sources: src}, "volume 3 is larger than the English set (2 records)"},
		{"numpy files of different sizes", Spec{Sampling: Numpy, Variants: []Variant{{Mode: En2X, Count: 1}}, Sources: src}, "aligned by position but disagree in size"},
		{"numpy volume larger than the source", Spec{Sampling: Numpy, Variants: []Variant{{Mode: X2En, Count: 3}}, Sources: Sources{English: en, Parallel: map[string]string{"zh": writeFile(t, "z3.json", `[{"instruction":"z0","output":"y0"},{"instruction":"z1","output":""}]`)}}}, "volume 3 is larger than the source's 2 items"},
		{"bad marker", Spec{Variants: []Variant{{Mode: En2X, Count: 1, Marker: "emoji"}}, Sources: src}, "unknown marker"},
		{"allow same on en2x", Spec{Variants: []Variant{{Mode: En2X, Count: 1, AllowSame: true}}, Sources: src}, "allow_same applies to x2x only"},
		{"bad sampling", Spec{Sampling: "sometimes", Variants: []Variant{{Mode: Base, Count: 1}}, Sources: src}, "unknown sampling"},
		{"without replacement exhausted", Spec{Sampling: WithoutReplacement, Variants: []Variant{{Mode: X2En, Count: 2}},
			Sources: Sources{English: en, Parallel: map[string]string{"zh": writeFile(t, "z2.jsonl", `{"id":0,"instruction":"z","input":"","output":"y"}`+"\n")}}}, "ran out after 1 records"},
		{"bad input file", Spec{Variants: []Variant{{Mode: Base, Count: 1}}, Sources: Sources{English: writeFile(t, "bad.jsonl", "{\"instruction\": \"a\", \"output\": \"b\"}\n{oops}\n")}}, "bad.jsonl:2: malformed JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(context.Background(), tt.spec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestStatsAndReadBack(t *testing.T) {
	res, err := Build(context.Background(), sampleSpec())
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "m.jsonl")
	if err := res.WriteFile(out); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSONL(out)
	if err != nil {
		t.Fatal(err)
	}
	if HashRecords(back) != res.Hash {
		t.Error("read-back hash differs")
	}
	st := ComputeStats(back)
	if st.Records != 20 || len(st.Modes) != 5 || st.Modes[0].Mode != Base || st.Modes[4].Mode != Trans {
		t.Errorf("stats %+v", st)
	}
	sum := 0
	for _, p := range st.Pairs {
		sum += p.Count
	}
	if sum != 20 {
		t.Errorf("pair counts sum to %d", sum)
	}
	for _, m := range st.Modes {
		q := m.Output
		if m.Count != 4 || !(q.Min <= q.P50 && q.P50 <= q.P90 && q.P90 <= q.P99 && q.P99 <= q.Max) || q.Max == 0 {
			t.Errorf("mode %s stats %+v", m.Mode, m)
		}
	}
	var buf bytes.Buffer
	if err := res.Stats.WriteTable(&buf); err != nil || !strings.Contains(buf.String(), "x2x") {
		t.Errorf("table: %v\n%s", err, buf.String())
	}
	bad := writeFile(t, "bad.jsonl", `{"id":"a","mode":"base","src_lang":"en","tgt_lang":"en","instruction":"","input":"","output":"","source_ids":[]}`+"\n"+`{"id": 3}`+"\n")
	if _, err := ReadJSONL(bad); err == nil || !strings.Contains(err.Error(), "bad.jsonl:2:") {
		t.Errorf("ReadJSONL bad: %v", err)
	}
}

func TestQuantiles(t *testing.T) {
	tests := []struct {
		in   []int
		want Quantiles
	}{
		{[]int{5}, Quantiles{5, 5, 5, 5, 5}},
		{[]int{4, 1, 3, 2}, Quantiles{1, 2, 4, 4, 4}},
		{[]int{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, Quantiles{10, 50, 90, 100, 100}},
	}
	for _, tt := range tests {
		if got := quantiles(tt.in); got != tt.want {
			t.Errorf("quantiles(%v) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
