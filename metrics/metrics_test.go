package metrics

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"math"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/bench"
)

// The fixture is SeaEval's own evaluation of flan_t5_base on Cross-MMLU
// (prompt 1): its 1,050 raw predictions, the items' options and answers, and
// SeaEval's published score file, all from github.com/SeaEval/SeaEval
// (branch SeaEval_v0.1, log/flan_t5_base/cross_mmlu/, CC BY-NC 4.0); see
// testdata/SOURCE.md.
func loadFixture(t *testing.T) (*bench.Benchmark, []*bench.Prediction, []byte) {
	t.Helper()
	f, err := os.Open("testdata/cross_mmlu.choices.jsonl.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bench.Parse(zr, "cross_mmlu.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	p, err := bench.ReadPredictions("testdata/flan_t5_base_cross_mmlu_p1.predictions.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/flan_t5_base_cross_mmlu_p1_score.json")
	if err != nil {
		t.Fatal(err)
	}
	return b, p, want
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9 }

// TestReproducesSeaEvalScoreFile is the acceptance test: scoring SeaEval's
// own predictions gives SeaEval's published numbers, every one of them, and
// even the same bytes.
func TestReproducesSeaEvalScoreFile(t *testing.T) {
	b, p, raw := loadFixture(t)
	got, err := Score(b, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want Result
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got.Languages, ",") != strings.Join(want.Languages, ",") {
		t.Fatalf("languages %v, want %v", got.Languages, want.Languages)
	}
	if !near(got.OverallAcc, want.OverallAcc) {
		t.Errorf("overall_acc %v, want %v", got.OverallAcc, want.OverallAcc)
	}
	for _, l := range want.Languages {
		if !near(got.LanguageAcc[l], want.LanguageAcc[l]) {
			t.Errorf("language_acc[%s] %v, want %v", l, got.LanguageAcc[l], want.LanguageAcc[l])
		}
	}
	n := 0
	for k := 2; k <= 7; k++ {
		if !near(got.Consistency[k], want.Consistency[k]) || !near(got.AC3[k], want.AC3[k]) {
			t.Errorf("k=%d: consistency %v AC3 %v, want %v %v", k, got.Consistency[k], got.AC3[k], want.Consistency[k], want.AC3[k])
		}
		if len(got.Detailed[k]) != len(want.Detailed[k]) {
			t.Errorf("k=%d: %d subsets, want %d", k, len(got.Detailed[k]), len(want.Detailed[k]))
		}
		for name, v := range want.Detailed[k] {
			n++
			if g, ok := got.Detailed[k][name]; !ok || !near(g, v) {
				t.Errorf("%d_combine[%s] = %v, want %v", k, name, g, v)
			}
		}
	}
	if n != 120 {
		t.Fatalf("compared %d subsets, want 120", n)
	}
	out, err := got.MarshalSeaEval()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, raw) {
		t.Errorf("MarshalSeaEval differs from SeaEval's file:\n%s", out)
	}
	// SeaEval's random fallback never fired on this run, which is why the
	// numbers can be reproduced exactly.
	al, _, err := Align(b, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range al {
		for l, r := range a.Random {
			if r {
				t.Errorf("%s %s: random draw", a.ID, l)
			}
		}
	}
}

// TestLanguageSubsetMatchesDetailedTable scores CrossIn's four languages
// only: each subset's consistency must equal the entry SeaEval published
// for it, and consistency_k must be their mean.
func TestLanguageSubsetMatchesDetailedTable(t *testing.T) {
	b, p, raw := loadFixture(t)
	var full Result
	if err := json.Unmarshal(raw, &full); err != nil {
		t.Fatal(err)
	}
	// SeaEval's order of these four in the log.
	langs := []string{"Vietnamese", "Chinese", "Spanish", "English"}
	got, err := Score(b, p, langs)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, l := range langs {
		if !near(got.LanguageAcc[l], full.LanguageAcc[l]) {
			t.Errorf("%s: %v, want %v", l, got.LanguageAcc[l], full.LanguageAcc[l])
		}
		sum += full.LanguageAcc[l]
	}
	if !near(got.OverallAcc, sum/4) {
		t.Errorf("overall %v, want %v", got.OverallAcc, sum/4)
	}
	for k := 2; k <= 4; k++ {
		mean := 0.0
		for name, v := range got.Detailed[k] {
			if w, ok := full.Detailed[k][name]; !ok || !near(v, w) {
				t.Errorf("%s: %v, SeaEval %v", name, v, w)
			}
			mean += full.Detailed[k][name]
		}
		mean /= float64(len(got.Detailed[k]))
		if !near(got.Consistency[k], mean) {
			t.Errorf("consistency_%d %v, want %v", k, got.Consistency[k], mean)
		}
		want := 2 * mean * got.OverallAcc / (mean + got.OverallAcc + 1e-10)
		if !near(got.AC3[k], want) {
			t.Errorf("AC3_%d %v, want %v", k, got.AC3[k], want)
		}
	}
	if len(got.Detailed[3]) != 4 {
		t.Fatalf("%d 3-subsets of 4 languages, want 4", len(got.Detailed[3]))
	}
}

// small builds a hand-checkable benchmark: 4 questions, 3 languages, gold
// always B.
func small(t *testing.T) *bench.Benchmark {
	t.Helper()
	var qs []*bench.Question
	for _, id := range []string{"q1", "q2", "q3", "q4"} {
		q := &bench.Question{ID: id, Items: map[string]*bench.Item{}}
		for _, l := range []string{"English", "Chinese", "Vietnamese"} {
			q.Languages = append(q.Languages, l)
			q.Items[l] = &bench.Item{Question: id, Choices: []string{"(A) a", "(B) b", "(C) c", "(D) d"}, Answer: "(B) b", AnswerIndex: 1}
		}
		qs = append(qs, q)
	}
	b, err := bench.New("toy", qs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func preds(t *testing.T, s string) []*bench.Prediction {
	t.Helper()
	p, err := bench.ParsePredictions(strings.NewReader(s), "p.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestHandDerived checks the definitions on numbers worked out by hand.
//
//	     en  zh  vi
//	q1   B   B   B    all right, all agree
//	q2   B   C   C    en right; zh=vi
//	q3   A   A   B    vi right; en=zh
//	q4   D   C   A    none right, none agree
//
// acc: en 2/4, zh 1/4, vi 2/4 -> overall 5/12.
// pairs: en-zh {q1,q3} 2/4, en-vi {q1} 1/4, zh-vi {q1,q2} 2/4 -> cons_2 = 5/12.
// triple: {q1} 1/4 -> cons_3 = 1/4.
func TestHandDerived(t *testing.T) {
	b := small(t)
	p := preds(t, `{"id":"q1","English":"(B)","Chinese":"(B)","Vietnamese":"(B)"}
{"id":"q2","English":"(B)","Chinese":"(C)","Vietnamese":"(C)"}
{"id":"q3","English":"(A)","Chinese":"(A)","Vietnamese":"(B)"}
{"id":"q4","English":"(D)","Chinese":"(C)","Vietnamese":"(A)"}
`)
	r, err := Score(b, p, nil, WithBootstrap(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, got, want float64) {
		t.Helper()
		if !near(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("acc en", r.LanguageAcc["English"], 0.5)
	check("acc zh", r.LanguageAcc["Chinese"], 0.25)
	check("acc vi", r.LanguageAcc["Vietnamese"], 0.5)
	check("overall", r.OverallAcc, 5.0/12)
	check("en,zh", r.Detailed[2]["English,Chinese"], 0.5)
	check("en,vi", r.Detailed[2]["English,Vietnamese"], 0.25)
	check("zh,vi", r.Detailed[2]["Chinese,Vietnamese"], 0.5)
	check("cons_2", r.Consistency[2], 5.0/12)
	check("cons_3", r.Consistency[3], 0.25)
	check("AC3_2", r.AC3[2], 2*(5.0/12)*(5.0/12)/(5.0/12+5.0/12+1e-10))
	check("AC3_3", r.AC3[3], 2*0.25*(5.0/12)/(0.25+5.0/12+1e-10))
	if r.AccCI != nil {
		t.Error("bootstrap ran with 0 resamples")
	}
	// Order of the evaluated languages names the subsets.
	r2, _ := Score(b, p, []string{"Vietnamese", "English"})
	if _, ok := r2.Detailed[2]["Vietnamese,English"]; !ok || len(r2.Consistency) != 1 {
		t.Errorf("subset names follow the given order: %v", r2.Detailed)
	}
}

// TestAC3Epsilon checks SeaEval's epsilon: zero accuracy and consistency
// give AC3 = 0, not NaN.
func TestAC3Epsilon(t *testing.T) {
	if v := AC3(0, 0); v != 0 {
		t.Fatalf("AC3(0,0) = %v", v)
	}
	if v := AC3(1, 1); !near(v, 1) || v >= 1 {
		t.Fatalf("AC3(1,1) = %v, want just under 1", v)
	}
}

func TestCombinations(t *testing.T) {
	got := Combinations(4, 2)
	want := [][]int{{0, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3}, {2, 3}}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for i := range want {
		for j := range want[i] {
			if got[i][j] != want[i][j] {
				t.Fatalf("%v, want %v", got, want)
			}
		}
	}
	if len(Combinations(7, 3)) != 35 || len(Combinations(7, 7)) != 1 || Combinations(2, 3) != nil {
		t.Fatal("counts")
	}
}

func TestLogLikMode(t *testing.T) {
	b := small(t)
	p := preds(t, `{"id":"q1","loglik":{"English":[-3,-1,-4,-5],"Chinese":[-3,-1,-4,-5],"Vietnamese":[-1,-2,-3,-4]},"ntokens":{"English":[1,1,1,1],"Chinese":[1,1,1,1],"Vietnamese":[1,4,1,1]}}
{"id":"q2","loglik":{"English":[-3,-1,-4,-5],"Chinese":[-3,-1,-4,-5],"Vietnamese":[-3,-1,-4,-5]}}
{"id":"q3","loglik":{"English":[-3,-1,-4,-5],"Chinese":[-3,-1,-4,-5],"Vietnamese":[-3,-1,-4,-5]}}
{"id":"q4","loglik":{"English":[-3,-1,-4,-5],"Chinese":[-3,-1,-4,-5],"Vietnamese":[-3,-1,-4,-5]}}
`)
	r, err := Score(b, p, []string{"English", "Chinese", "Vietnamese"}, WithMode(ModeLogLik))
	if err != nil {
		t.Fatal(err)
	}
	if r.LanguageAcc["English"] != 1 || r.LanguageAcc["Vietnamese"] != 0.75 {
		t.Fatalf("loglik accuracy %v", r.LanguageAcc)
	}
	// Per token, q1 Vietnamese option B scores -0.5 > -1: right.
	_, err = Score(b, p, []string{"English", "Chinese", "Vietnamese"}, WithMode(ModeLogLik), WithLengthNorm(true))
	if err == nil || !strings.Contains(err.Error(), "token count per option") {
		t.Fatalf("length norm without ntokens: %v", err)
	}
}

func TestScoreErrors(t *testing.T) {
	b := small(t)
	full := `{"id":"q1","English":"B","Chinese":"B","Vietnamese":"B"}
{"id":"q2","English":"B","Chinese":"B","Vietnamese":"B"}
{"id":"q3","English":"B","Chinese":"B","Vietnamese":"B"}
`
	tests := []struct{ name, preds, want string }{
		{"missing ids", full, "predictions are missing 1 of 4 questions of toy (q4)"},
		{"unknown id", full + `{"id":"q9","English":"B","Chinese":"B","Vietnamese":"B"}` + "\n", `predictions line 4: unknown question id "q9"`},
		{"missing language", full + `{"id":"q4","English":"B","Chinese":"B"}` + "\n", `predictions line 4: question "q4" has no "Vietnamese" output`},
		{"unknown language", strings.ReplaceAll(full, "Vietnamese", "Thai") + `{"id":"q4","English":"B","Chinese":"B","Thai":"B"}`, `benchmark toy has no language "Thai"`},
		{"loglik missing", full + `{"id":"q4","English":"B","Chinese":"B","Vietnamese":"B"}`, `has no "loglik" scores`},
	}
	for _, tt := range tests {
		var opts []Option
		if tt.name == "loglik missing" {
			opts = append(opts, WithMode(ModeLogLik))
		}
		_, err := Score(b, preds(t, tt.preds), nil, opts...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
	if _, err := Score(b, preds(t, full), nil, WithMode("vote")); err == nil {
		t.Error("unknown mode accepted")
	}
}

// TestBootstrapDeterministic checks that intervals depend only on the seed
// (not on GOMAXPROCS) and bracket the accuracy.
func TestBootstrapDeterministic(t *testing.T) {
	b, p, _ := loadFixture(t)
	r1, _ := Score(b, p, nil, WithBootstrap(500, 11))
	prev := runtime.GOMAXPROCS(1)
	r2, _ := Score(b, p, nil, WithBootstrap(500, 11))
	runtime.GOMAXPROCS(prev)
	r3, _ := Score(b, p, nil, WithBootstrap(500, 12))
	same := true
	for _, l := range r1.Languages {
		if r1.AccCI[l] != r2.AccCI[l] {
			t.Fatalf("%s: %v vs %v", l, r1.AccCI[l], r2.AccCI[l])
		}
		ci := r1.AccCI[l]
		if !(ci[0] <= r1.LanguageAcc[l] && r1.LanguageAcc[l] <= ci[1]) || ci[1]-ci[0] <= 0 {
			t.Fatalf("%s: interval %v does not bracket %v", l, ci, r1.LanguageAcc[l])
		}
		if r3.AccCI[l] != ci {
			same = false
		}
	}
	if same {
		t.Fatal("bootstrap seed has no effect")
	}
}

func TestJSONRoundTrip(t *testing.T) {
	b, p, _ := loadFixture(t)
	r, err := Score(b, p, nil, WithBootstrap(100, 1))
	if err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(j, &back); err != nil {
		t.Fatal(err)
	}
	j2, _ := json.Marshal(&back)
	if !bytes.Equal(j, j2) {
		t.Fatalf("round trip changed the JSON:\n%s\n%s", j, j2)
	}
	if back.N != 150 || back.Benchmark != "cross_mmlu" || len(back.AccCI) != 7 {
		t.Fatalf("crossin fields lost: %+v", back)
	}
	// Embedded in a struct (as resultset rows do) it keeps SeaEval's keys.
	type row struct {
		Score *Result `json:"score"`
	}
	rj, _ := json.Marshal(row{Score: r})
	if !bytes.Contains(rj, []byte(`"consistency_score_7"`)) {
		t.Fatal("SeaEval keys missing when embedded")
	}
	var bad Result
	if err := json.Unmarshal([]byte(`{"overall_acc": "x"}`), &bad); err == nil {
		t.Fatal("bad score file accepted")
	}
}

func TestPyFloat(t *testing.T) {
	tests := map[float64]string{
		0: "0.0", 1: "1.0", 0.5: "0.5", 0.31428571428571433: "0.31428571428571433",
		1e-5: "1e-05", 0.0001: "0.0001", 1e16: "1e+16", 123456789012345.0: "123456789012345.0",
		-0.25: "-0.25", 2.5e-7: "2.5e-07",
	}
	for in, want := range tests {
		if got, err := PyFloat(in); err != nil || got != want {
			t.Errorf("PyFloat(%v) = %q, want %q", in, got, want)
		}
	}
	if _, err := PyFloat(math.NaN()); err == nil {
		t.Error("NaN accepted")
	}
}

func TestScoreFiles(t *testing.T) {
	r, err := ScoreFiles("testdata/cross_mmlu.choices.jsonl.gz", "testdata/flan_t5_base_cross_mmlu_p1.predictions.jsonl", []string{"English"}, WithBootstrap(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !near(r.LanguageAcc["English"], 0.41333333333333333) || r.Benchmark != "cross_mmlu" {
		t.Fatalf("%+v", r)
	}
	if _, err := ScoreFiles("testdata/none.jsonl", "x", nil); err == nil {
		t.Fatal("missing file accepted")
	}
}
