package bench

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/internal/sharedtest"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

const sampleLines = `{"id": "test_1", "English": {"question": "Q1?", "choices": ["(A) a1", "(B) b1", "(C) c1", "(D) d1"], "answer": "(B) b1", "answer_index": 1}, "Chinese": {"question": "问1", "choices": ["(A) 甲", "(B) 乙", "(C) 丙", "(D) 丁"], "answer": "(B) 乙"}}
{"id": "test_2", "English": {"context": "Ctx.", "question": "Q2?", "choices": ["(A) a2", "(B) b2", "(C) c2", "(D) d2"], "answer": "(D) d2", "answer_index": 3}, "Chinese": {"context": "文", "question": "问2", "choices": ["(A) 甲", "(B) 乙", "(C) 丙", "(D) 丁"], "answer": "(D) 丁", "answer_index": 3}}
`

func TestParseJSONLAndArray(t *testing.T) {
	b, err := Parse(strings.NewReader(sampleLines), "cross_mmlu.sample.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != "cross_mmlu" || len(b.Questions) != 2 || strings.Join(b.Languages, ",") != "English,Chinese" {
		t.Fatalf("got name %q, %d questions, languages %v", b.Name, len(b.Questions), b.Languages)
	}
	q, ok := b.Question("test_1")
	if !ok || q.Item("Chinese").AnswerIndex != 1 {
		t.Fatalf("answer_index not derived from answer: %+v", q.Item("Chinese"))
	}
	if b.Questions[1].Line != 2 {
		t.Fatalf("line = %d", b.Questions[1].Line)
	}
	// The hub's files are JSON arrays of the same objects.
	arr := "[\n" + strings.Replace(strings.TrimSpace(sampleLines), "\n", ",\n", 1) + "\n]\n"
	b2, err := Parse(strings.NewReader(arr), "cross_mmlu.json")
	if err != nil {
		t.Fatal(err)
	}
	var w1, w2 bytes.Buffer
	b.Write(&w1)
	b2.Write(&w2)
	if w1.String() != w2.String() {
		t.Fatalf("JSONL and array forms differ:\n%s\n%s", w1.String(), w2.String())
	}
	if b2.Questions[1].Line != 3 {
		t.Fatalf("array element line = %d, want 3", b2.Questions[1].Line)
	}
	// Writing and reading back is lossless.
	b3, err := Parse(&w1, "x.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var w3 bytes.Buffer
	b3.Write(&w3)
	if w3.String() != w2.String() {
		t.Fatal("round trip changed the file")
	}
}

func TestParseErrors(t *testing.T) {
	ok := `{"id": "a", "English": {"question": "q", "choices": ["(A) x", "(B) y"], "answer": "(A) x"}}`
	tests := []struct {
		name, data, want string
	}{
		{"bad JSON", ok + "\n{\"id\": \"b\", \"English\": \n", "f.jsonl:2: bad JSON"},
		{"missing id", `{"English": {"question": "q", "choices": ["(A) x", "(B) y"], "answer": "(A) x"}}`, `f.jsonl:1: missing "id"`},
		{"answer not a choice", `{"id": "a", "English": {"question": "q", "choices": ["(A) x", "(B) y"], "answer": "(C) z"}}`, "is not one of the choices"},
		{"answer_index mismatch", `{"id": "a", "English": {"question": "q", "choices": ["(A) x", "(B) y"], "answer": "(A) x", "answer_index": 1}}`, "answer_index 1 does not match"},
		{"duplicate id", ok + "\n" + ok, "f.jsonl:2: duplicate question id \"a\" (first on line 1)"},
		{"one choice", `{"id": "a", "English": {"question": "q", "choices": ["(A) x"], "answer": "(A) x"}}`, "at least 2 choices"},
		{"language not an object", `{"id": "a", "English": "text"}`, `language "English": expected an object`},
		{"empty", "\n\n", "no questions"},
		{"array element", "[\n" + ok + ",\n{\"id\": \"b\"}\n]", "f.jsonl:3: question \"b\" has no languages"},
	}
	for _, tt := range tests {
		_, err := Parse(strings.NewReader(tt.data), "f.jsonl")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
}

func TestPredictions(t *testing.T) {
	in := `{"id": "test_1", "English": "(B)", "Chinese": "乙", "loglik": {"English": [-3, -1, -4, -2]}, "ntokens": {"English": [2, 2, 2, 2]}}
{"id": "test_2", "English": "", "Chinese": ""}
`
	ps, err := ParsePredictions(strings.NewReader(in), "p.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || strings.Join(ps[0].Languages, ",") != "English,Chinese" || ps[0].LogLik["English"][1] != -1 || ps[1].Line != 2 {
		t.Fatalf("parsed %+v", ps[0])
	}
	var buf bytes.Buffer
	if err := WritePredictions(&buf, ps); err != nil {
		t.Fatal(err)
	}
	ps2, err := ParsePredictions(&buf, "again")
	if err != nil {
		t.Fatal(err)
	}
	if ps2[0].Output["Chinese"] != "乙" || ps2[0].NTokens["English"][3] != 2 {
		t.Fatalf("round trip lost data: %+v", ps2[0])
	}

	bad := []struct{ data, want string }{
		{`{"id": "x", "English": 3}`, `p.jsonl:1: language "English": expected the raw model output as a string`},
		{"{\"id\": \"x\"}\n{\"id\": ", "p.jsonl:2: bad JSON"},
		{`{"English": "(A)"}`, `p.jsonl:1: missing "id"`},
		{"{\"id\": \"x\"}\n{\"id\": \"x\"}", `p.jsonl:2: duplicate id "x" (first on line 1)`},
		{`{"id": "x", "loglik": {"English": "no"}}`, `"loglik" must map languages to arrays of numbers`},
		{`[1, 2]`, "expected a JSON object"},
	}
	for _, tt := range bad {
		_, err := ParsePredictions(strings.NewReader(tt.data), "p.jsonl")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want %q", tt.data, err, tt.want)
		}
	}
}

func TestPrompt(t *testing.T) {
	it := &Item{
		Question: "According to Adler, firstborn children are more likely than subsequent children in a family to be",
		Choices:  []string{"(A) responsible", "(B) funny", "(C) sociable", "(D) followers"},
		Answer:   "(A) responsible",
	}
	// SeaEval's logged model_input for this item (flan_t5_base, p1).
	want := "Respond to the question by selecting the most appropriate answer.\n\nQuestion:\nAccording to Adler, firstborn children are more likely than subsequent children in a family to be\n\nChoices:\n(A) responsible\n(B) funny\n(C) sociable\n(D) followers\n\nAnswer:\n"
	got, err := Prompt("cross_mmlu", it, PromptOptions{Format: FormatSeaEval, Template: 1})
	if err != nil || got != want {
		t.Fatalf("SeaEval p1:\n%q\nwant\n%q (err %v)", got, want, err)
	}
	for k := 1; k <= 5; k++ {
		p, err := Prompt("cross_logiqa", &Item{Context: "CTX", Question: "Q", Choices: it.Choices}, PromptOptions{Template: k})
		if err != nil || !strings.Contains(p, "CTX") || !strings.Contains(p, "(D) followers") {
			t.Fatalf("logiqa template %d: %q %v", k, p, err)
		}
		px, _ := Prompt("cross_xquad", &Item{Context: "CTX", Question: "Q", Choices: it.Choices}, PromptOptions{Template: k})
		if px != p {
			t.Fatalf("cross_xquad template %d differs from cross_logiqa's", k)
		}
	}
	cross, err := Prompt("cross_mmlu", it, PromptOptions{Format: FormatCrossIn})
	if err != nil || cross != "Question:\n"+it.Question+"\n\nChoices:\n(A) responsible\n(B) funny\n(C) sociable\n(D) followers\n\nAnswer:\n" {
		t.Fatalf("CrossIn prompt without context: %q %v", cross, err)
	}
	zh, err := Prompt("cross_logiqa", &Item{Context: "C", Question: "Q", Choices: []string{"(A) x", "(B) y"}}, PromptOptions{Format: FormatCrossIn, InstructionLanguage: "zh"})
	if err != nil || zh != "内容:\nC\n\n问题:\nQ\n\n选项:\n(A) x\n(B) y\n\n答案:\n" {
		t.Fatalf("CrossIn prompt, Chinese instructions: %q %v", zh, err)
	}
	for _, o := range []PromptOptions{{Template: 6}, {InstructionLanguage: "Chinese"}, {Format: "other"}, {Format: FormatCrossIn, InstructionLanguage: "Thai"}} {
		if _, err := Prompt("cross_mmlu", it, o); err == nil {
			t.Errorf("Prompt(%+v): no error", o)
		}
	}
	if _, err := Prompt("nope", it, PromptOptions{}); err == nil {
		t.Error("unknown benchmark: no error")
	}
}

func TestLanguages(t *testing.T) {
	for in, want := range map[string]string{"en": "English", "ZH": "Chinese", "vietnamese": "Vietnamese", "fil": "Filipino", "tl": "Filipino", "ms": "Malay"} {
		if got, err := LanguageName(in); err != nil || got != want {
			t.Errorf("LanguageName(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := LanguageName("xx"); err == nil {
		t.Error("unknown code accepted")
	}
	if _, err := LanguageNames([]string{"en", "English"}); err == nil {
		t.Error("repeat accepted")
	}
}

func TestSampleAndSelect(t *testing.T) {
	b, err := Parse(strings.NewReader(sampleLines), "x.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.Sample(1, "Chinese")
	if err != nil || len(s.Questions) != 1 || strings.Join(s.Languages, ",") != "Chinese" || s.Questions[0].ID != "test_1" {
		t.Fatalf("Sample: %+v %v", s, err)
	}
	if _, err := b.Sample(1, "Thai"); err == nil {
		t.Fatal("missing language accepted")
	}
}

func TestBuildXQuAD(t *testing.T) {
	b, err := BuildXQuAD("testdata/xquad", XQuADOptions{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	checkCrossXQuAD(t, b, 7)
	var got bytes.Buffer
	b.Write(&got)
	golden := filepath.Join("testdata", "cross_xquad.golden.jsonl")
	if *update {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != string(want) {
		t.Fatalf("output differs from %s (run go test -update):\n%s", golden, got.String())
	}
	// Deterministic, and the seed matters.
	again, _ := BuildXQuAD("testdata/xquad", XQuADOptions{Seed: 3})
	var g2 bytes.Buffer
	again.Write(&g2)
	if g2.String() != got.String() {
		t.Fatal("two builds with the same seed differ")
	}
	other, _ := BuildXQuAD("testdata/xquad", XQuADOptions{Seed: 4})
	var g3 bytes.Buffer
	other.Write(&g3)
	if g3.String() == got.String() {
		t.Fatal("the seed has no effect")
	}
	// Distractors prefer the same paragraph: q1's options come from q2, q3
	// (its paragraph) and one from its article's other paragraph.
	q1, _ := b.Question("q1")
	texts := strings.Join(q1.Item("English").Choices, "|")
	for _, w := range []string{"308", "Kawann Short", "11"} {
		if !strings.Contains(texts, w) {
			t.Fatalf("q1 options %q lack same-paragraph answer %q", texts, w)
		}
	}
	if !strings.Contains(texts, "Panthers") && !strings.Contains(texts, "2015") {
		t.Fatalf("q1's fourth option %q is not from the same article", texts)
	}
	// Errors.
	if _, err := BuildXQuAD("testdata/none", XQuADOptions{}); err == nil || !strings.Contains(err.Error(), "xquad.en.json") {
		t.Fatalf("missing dir: %v", err)
	}
	if _, err := BuildXQuAD("testdata/xquad", XQuADOptions{Languages: []string{"de"}}); err == nil || !strings.Contains(err.Error(), "xquad.de.json") {
		t.Fatalf("missing language: %v", err)
	}
}

// checkCrossXQuAD checks the invariants of a Cross-XQuAD benchmark: four
// distinct options per language, the same gold letter everywhere, and
// options that are the same ids' answers in every language (a parallel
// structure the builder guarantees; checked here through the gold).
func checkCrossXQuAD(t *testing.T, b *Benchmark, n int) {
	t.Helper()
	if len(b.Questions) != n {
		t.Fatalf("%d questions, want %d", len(b.Questions), n)
	}
	for _, q := range b.Questions {
		en := q.Item("English")
		for _, l := range b.Languages {
			it := q.Item(l)
			if len(it.Choices) != 4 {
				t.Fatalf("%s %s: %d choices", q.ID, l, len(it.Choices))
			}
			if it.AnswerIndex != en.AnswerIndex || it.Choices[it.AnswerIndex] != it.Answer {
				t.Fatalf("%s %s: gold %d %q, English gold %d", q.ID, l, it.AnswerIndex, it.Answer, en.AnswerIndex)
			}
			seen := map[string]bool{}
			for i, c := range it.Choices {
				if !strings.HasPrefix(c, "("+Letter(i)+") ") {
					t.Fatalf("%s %s: choice %q lacks its letter", q.ID, l, c)
				}
				if seen[c[4:]] {
					t.Fatalf("%s %s: duplicate option %q", q.ID, l, c)
				}
				seen[c[4:]] = true
			}
		}
	}
}

func TestBuildXQuADShared(t *testing.T) {
	sharedtest.Path(t, "data/xquad/xquad.en.json")
	dir := sharedtest.Path(t, "data/xquad")
	b, err := BuildXQuAD(dir, XQuADOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkCrossXQuAD(t, b, 1190)
	counts := make([]int, 4)
	for _, q := range b.Questions {
		counts[q.Item("English").AnswerIndex]++
	}
	for i, c := range counts {
		if c < 200 {
			t.Fatalf("gold letter %s only %d times of 1190: %v", Letter(i), c, counts)
		}
	}
}

// TestXQuADOptionsParallel checks, on the synthetic XQuAD whose
// "translations" are prefixes, that option j in every language is the
// translation of option j in English.
func TestXQuADOptionsParallel(t *testing.T) {
	b, err := BuildXQuAD("testdata/xquad", XQuADOptions{Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	prefix := map[string]string{"English": "", "Chinese": "中", "Vietnamese": "vi ", "Spanish": "es "}
	for _, q := range b.Questions {
		en := q.Item("English")
		for l, p := range prefix {
			it := q.Item(l)
			for j, c := range it.Choices {
				if want := en.Choices[j][:4] + p + en.Choices[j][4:]; c != want {
					t.Fatalf("%s %s option %d = %q, want %q", q.ID, l, j, c, want)
				}
			}
		}
	}
}

// TestQuickstartSamples checks the shipped samples load and are parallel.
func TestQuickstartSamples(t *testing.T) {
	for _, n := range []string{"cross_mmlu", "cross_logiqa", "cross_xquad"} {
		b, err := Load("../experiments/data/bench/" + n + ".sample.jsonl")
		if err != nil {
			t.Fatal(err)
		}
		if b.Name != n || len(b.Questions) != 30 || strings.Join(b.Languages, ",") != "English,Chinese,Vietnamese,Spanish" {
			t.Fatalf("%s: name %q, %d questions, %v", n, b.Name, len(b.Questions), b.Languages)
		}
		for _, q := range b.Questions {
			for _, l := range b.Languages {
				if q.Item(l).AnswerIndex != q.Item("English").AnswerIndex {
					t.Fatalf("%s %s: gold differs in %s", n, q.ID, l)
				}
				if (n != "cross_mmlu") != (q.Item(l).Context != "") {
					t.Fatalf("%s %s %s: context presence wrong", n, q.ID, l)
				}
			}
		}
	}
}

// TestSharedSeaEval loads the team's full SeaEval files when present.
func TestSharedSeaEval(t *testing.T) {
	for n, want := range map[string]int{"cross_mmlu": 150, "cross_logiqa": 176} {
		path := sharedtest.Path(t, "data/seaeval/"+n+".jsonl")
		b, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Questions) != want || strings.Join(b.Languages, ",") != strings.Join(SeaEvalLanguages, ",") {
			t.Fatalf("%s: %d questions, %v", n, len(b.Questions), b.Languages)
		}
		for _, q := range b.Questions {
			for _, l := range b.Languages {
				if q.Item(l).AnswerIndex != q.Item("English").AnswerIndex {
					t.Fatalf("%s %s: gold differs in %s", n, q.ID, l)
				}
			}
		}
	}
}
