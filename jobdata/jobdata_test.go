package jobdata

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/bench"
	"github.com/crossin-lab/crossin/engine/tokenizer"
	"github.com/crossin-lab/crossin/template"
	"github.com/crossin-lab/crossin/trainer"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const tokPath = "../experiments/assets/tokenizer/tokenizer.json"

func llama2(t *testing.T) *tokenizer.Tokenizer {
	t.Helper()
	tok, err := tokenizer.Load(tokPath)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestOrderCoversEveryEpoch(t *testing.T) {
	for _, tc := range []struct {
		n     int
		st    Steps
		steps int
	}{
		{10, Steps{BatchSize: 2, GradAccum: 2, Epochs: 1}, 2}, // 5 micro-batches -> 2 steps (floor), as HF
		{10, Steps{BatchSize: 1, GradAccum: 16, Epochs: 1}, 1},
		{16, Steps{BatchSize: 4, GradAccum: 1, Epochs: 2}, 8},
		{7, Steps{BatchSize: 2, GradAccum: 1, MaxSteps: 9}, 9}, // wraps into epochs 2 and 3
	} {
		ord, err := Order(tc.n, tc.st, 42)
		if err != nil {
			t.Fatal(err)
		}
		if len(ord) != tc.steps {
			t.Errorf("n=%d %+v: %d steps, want %d", tc.n, tc.st, len(ord), tc.steps)
		}
		again, _ := Order(tc.n, tc.st, 42)
		if !slices.EqualFunc(ord, again, slices.Equal) {
			t.Errorf("n=%d: order not deterministic", tc.n)
		}
		// The concatenated micro-batches walk through whole epochs: each
		// full epoch is a permutation of 0..n-1.
		var flat []int
		for _, s := range ord {
			flat = append(flat, s...)
		}
		for e := 0; (e+1)*tc.n <= len(flat); e++ {
			ep := slices.Clone(flat[e*tc.n : (e+1)*tc.n])
			slices.Sort(ep)
			for i, v := range ep {
				if v != i {
					t.Fatalf("n=%d epoch %d is not a permutation: %v", tc.n, e, flat[e*tc.n:(e+1)*tc.n])
				}
			}
		}
	}
	if _, err := Order(3, Steps{BatchSize: 1}, 1); err == nil {
		t.Error("no epochs and no max_steps: want an error")
	}
	a, _ := Order(20, Steps{BatchSize: 1, GradAccum: 1, Epochs: 1}, 1)
	b, _ := Order(20, Steps{BatchSize: 1, GradAccum: 1, Epochs: 1}, 2)
	if slices.EqualFunc(a, b, slices.Equal) {
		t.Error("the seed does not change the order")
	}
}

func TestBuildTrainTruncatesAndCounts(t *testing.T) {
	pairs := []Pair{
		{Prompt: []int32{1, 10, 11}, Response: []int32{20, 21, 2}},     // fits
		{Prompt: []int32{1, 10, 11, 12}, Response: []int32{20, 21, 2}}, // cut to 6: keeps 20, 21
		{Prompt: []int32{1, 10, 11, 12, 13, 14}, Response: []int32{2}}, // no response token left
	}
	lines, st, err := BuildTrain(pairs, Steps{BatchSize: 1, GradAccum: 1, Epochs: 1, MaxLength: 6}, 7)
	if err != nil {
		t.Fatal(err)
	}
	if st.Examples != 2 || st.Truncated != 2 || st.Dropped != 1 || st.Steps != 2 || st.Lines != 2 {
		t.Errorf("stats %+v", st)
	}
	for _, l := range lines {
		if len(l.InputIDs) > 6 || len(l.Labels) != len(l.InputIDs) {
			t.Errorf("line %+v", l)
		}
		for i, lb := range l.Labels {
			if lb != template.IgnoreIndex && lb != l.InputIDs[i] {
				t.Errorf("label %d at %d", lb, i)
			}
		}
	}
	if _, _, err := BuildTrain(pairs[2:], Steps{BatchSize: 1, Epochs: 1, MaxLength: 6}, 7); err == nil || !strings.Contains(err.Error(), "max_length 6") {
		t.Errorf("all dropped: %v", err)
	}
}

func TestTrainFileRoundTripAndErrors(t *testing.T) {
	dir := t.TempDir()
	lines := []TrainLine{
		{Step: 0, InputIDs: []int32{1, 5, 6}, Labels: []int32{-100, 5, 6}},
		{Step: 0, InputIDs: []int32{1, 7}, Labels: []int32{-100, 7}},
		{Step: 1, InputIDs: []int32{1, 8}, Labels: []int32{-100, 8}},
	}
	p := filepath.Join(dir, TrainFile)
	if err := WriteTrain(p, lines); err != nil {
		t.Fatal(err)
	}
	steps, err := ReadTrain(p, 32000)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 || len(steps[0]) != 2 || !slices.Equal(steps[1][0].InputIDs, []int32{1, 8}) {
		t.Fatalf("read back %+v", steps)
	}
	for _, tc := range []struct{ body, want string }{
		{`{"step":1,"input_ids":[1],"labels":[1]}`, "x.jsonl:1: step 1 after step -1"},
		{"{\"step\":0,\"input_ids\":[1],\"labels\":[1]}\n{\"step\":2,\"input_ids\":[1],\"labels\":[1]}", "x.jsonl:2: step 2 after step 0"},
		{`{"step":0,"input_ids":[1,2],"labels":[1]}`, "x.jsonl:1: 2 input_ids and 1 labels"},
		{`{"step":0,"input_ids":[1,40000],"labels":[1,40000]}`, "x.jsonl:1: token id 40000 outside the model's vocabulary (size 32000)"},
		{`{"step":0,"input_ids":[1,2],"labels":[-100,3]}`, "neither -100 nor the input id"},
		{`{"step":0,"input_ids":[1],"labels":[1],"text":"x"}`, `x.jsonl:1: json: unknown field "text"`},
		{``, "x.jsonl: no examples"},
	} {
		_, err := ParseTrain(strings.NewReader(tc.body), "x.jsonl", 32000)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.body, err, tc.want)
		}
	}
}

// TestTrainGolden pins the tokenized training input of a small CrossIn
// mixture: any change to templates, tokenization, truncation or order
// shows up here (go test ./jobdata -update rewrites it after review).
func TestTrainGolden(t *testing.T) {
	tok := llama2(t)
	eos, _ := tok.EOS()
	recs := []struct{ inst, in, out string }{
		{"Give three tips for staying healthy.", "", "1. Eat well. 2. Sleep. 3. Move."},
		{"Translate the following sentence into English.", "我喜欢猫。", "I like cats."},
		{"Trả lời câu hỏi.", "Thủ đô của Pháp là gì?", "Paris."},
	}
	var pairs []Pair
	for _, r := range recs {
		prompt, err := template.Alpaca.Render(r.inst, r.in)
		if err != nil {
			t.Fatal(err)
		}
		p, q, err := template.Encode(encAdapter{tok}, prompt, r.out, eos)
		if err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, Pair{p, q})
	}
	lines, st, err := BuildTrain(pairs, Steps{BatchSize: 1, GradAccum: 2, Epochs: 2, MaxLength: 64}, 42)
	if err != nil {
		t.Fatal(err)
	}
	if st.Truncated == 0 {
		t.Error("want the golden to cover truncation")
	}
	p := filepath.Join(t.TempDir(), TrainFile)
	if err := WriteTrain(p, lines); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	golden(t, "train.golden.jsonl", got)
}

type encAdapter struct{ t *tokenizer.Tokenizer }

func (e encAdapter) Encode(s string, special bool) ([]int, error) { return e.t.Encode(s, special), nil }

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("update golden: %v", err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./jobdata -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run go test ./jobdata -update after checking the change)", name)
	}
}

func benchSample(t *testing.T) *bench.Benchmark {
	t.Helper()
	b, err := bench.Load("../experiments/data/bench/cross_mmlu.sample.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	b, err = b.Select(3, "English", "Chinese")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBuildEvalLogLikSplitsLikeTheHarness(t *testing.T) {
	tok := llama2(t)
	b := benchSample(t)
	spec := EvalSpec{Format: bench.FormatCrossIn, Mode: "loglik"}
	lines, err := BuildEval(b, spec, tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 6 || lines[0].Language != "English" || lines[1].Language != "Chinese" || lines[0].ID != lines[1].ID {
		t.Fatalf("order: %+v", lines[:2])
	}
	for _, l := range lines {
		q, _ := b.Question(l.ID)
		it := q.Items[l.Language]
		text, _ := spec.Prompt(b.Name, it)
		for i, o := range it.Choices {
			whole := toInt32(tok.Encode(text+o, true))
			seq := append(slices.Clone(l.PromptIDs), l.Options[i]...)
			if !slices.Equal(seq, whole) {
				t.Fatalf("%s/%s option %d: prompt+option != encode(prompt+option)", l.ID, l.Language, i)
			}
			k := l.ScoreTokens[i]
			if k < 1 || k > len(l.Options[i]) {
				t.Fatalf("score_tokens %d of %d", k, len(l.Options[i]))
			}
			ctx := toInt32(tok.Encode(text, true))
			if slices.Equal(whole[:len(whole)-k], ctx[:len(whole)-k]) == false {
				t.Fatalf("scored tokens overlap the prompt's own tokens")
			}
		}
	}
}

func TestDecodeGenerateAndLogLik(t *testing.T) {
	tok := llama2(t)
	b := benchSample(t)
	gen, err := BuildEval(b, EvalSpec{Format: bench.FormatCrossIn, Mode: "generate"}, tok)
	if err != nil {
		t.Fatal(err)
	}
	var outs []OutputLine
	for _, p := range gen {
		outs = append(outs, OutputLine{ID: p.ID, Language: p.Language, OutputIDs: toInt32(tok.Encode("(B) yes", false))})
	}
	preds, err := Decode(b, gen, outs, tok, "generate", bench.LogLikSum)
	if err != nil {
		t.Fatal(err)
	}
	if len(preds) != 3 || preds[0].Output["Chinese"] != "(B) yes" || !slices.Equal(preds[0].Languages, []string{"English", "Chinese"}) {
		t.Fatalf("generate predictions: %+v", preds[0])
	}
	outs[1].Language = "English"
	if _, err := Decode(b, gen, outs, tok, "generate", bench.LogLikSum); err == nil || !strings.Contains(err.Error(), "follow the prompts' order") {
		t.Errorf("misordered outputs: %v", err)
	}
	ll, _ := BuildEval(b, EvalSpec{Format: bench.FormatCrossIn, Mode: "loglik"}, tok)
	outs = outs[:0]
	for _, p := range ll {
		outs = append(outs, OutputLine{ID: p.ID, Language: p.Language, LogLik: []float64{-3, -1, -2, -5}, NTokens: p.ScoreTokens})
	}
	preds, err = Decode(b, ll, outs, tok, "loglik", bench.LogLikSum)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := b.Question(preds[0].ID)
	if preds[0].Output["English"] != q.Items["English"].Choices[1] {
		t.Errorf("loglik pick %q", preds[0].Output["English"])
	}
}

// TestPrepareTrainTemplates: every reference template prepares (paper.cue
// gives Llama-2 and Mistral "llama"), and an unknown one names the choices.
func TestPrepareTrainTemplates(t *testing.T) {
	dir := t.TempDir()
	mix := filepath.Join(dir, "mix.jsonl")
	os.WriteFile(mix, []byte(`{"instruction":"Say hi.","input":"","output":"Hi."}`+"\n"), 0o644)
	model := filepath.Join(dir, "model")
	os.MkdirAll(model, 0o755)
	b, _ := os.ReadFile(tokPath)
	os.WriteFile(filepath.Join(model, "tokenizer.json"), b, 0o644)
	c, _ := os.ReadFile(filepath.Join(filepath.Dir(tokPath), "tokenizer_config.json"))
	os.WriteFile(filepath.Join(model, "tokenizer_config.json"), c, 0o644)
	p := &trainer.TrainParams{BatchSize: 1, GradAccum: 1, Epochs: 1, MaxLength: 128}
	for _, name := range []string{"", "alpaca", "llama", "gemma", "plain"} {
		if _, _, err := PrepareTrain(model, template.Template(name), []string{mix}, p, 1, filepath.Join(dir, "t"+name)); err != nil {
			t.Errorf("template %q: %v", name, err)
		}
	}
	_, _, err := PrepareTrain(model, "chatml", []string{mix}, p, 1, filepath.Join(dir, "x"))
	want := `prompt template "chatml" does not exist; use one of alpaca, gemma, llama`
	if err == nil || err.Error() != want {
		t.Errorf("chatml: %v, want %q", err, want)
	}
}

// TestPrepareEvalRaw: with eval.raw the model sees the benchmark prompt
// itself (the CrossIn reference); without it, the prompt rendered as the
// instruction of the model's template.
func TestPrepareEvalRaw(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model")
	os.MkdirAll(model, 0o755)
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, _ := os.ReadFile(filepath.Join(filepath.Dir(tokPath), f))
		os.WriteFile(filepath.Join(model, f), b, 0o644)
	}
	os.WriteFile(filepath.Join(model, "config.json"), []byte(`{"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":16,"intermediate_size":32,"num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":2,"vocab_size":32000,"eos_token_id":2,"bos_token_id":1}`), 0o644)
	const benchFile = "../experiments/data/bench/cross_mmlu.sample.jsonl"
	b, err := bench.Load(benchFile)
	if err != nil {
		t.Fatal(err)
	}
	it := b.Questions[0].Items["English"]
	text, _ := bench.Prompt("cross_mmlu", it, bench.PromptOptions{Format: bench.FormatCrossIn})
	wrapped, _ := template.Llama.Render(text, "")
	tok := llama2(t)
	for _, tc := range []struct {
		raw    bool
		prompt string
	}{{true, text}, {false, wrapped}} {
		ev := &trainer.EvalParams{Benchmark: "cross_mmlu", Languages: []string{"English"}, Prompt: "crossin", Raw: tc.raw, Mode: "generate", Limit: 1}
		prep, err := PrepareEval(model, benchFile, ev, template.Llama, filepath.Join(dir, fmt.Sprint(tc.raw)))
		if err != nil {
			t.Fatal(err)
		}
		if want := toInt32(tok.Encode(tc.prompt, true)); !slices.Equal(prep.Prompts[0].PromptIDs, want) {
			t.Errorf("raw=%v: prompt ids are not those of the expected text", tc.raw)
		}
		if !slices.Equal(ev.EOSTokenIDs, []int{2}) {
			t.Errorf("eos ids %v, want the model's [2]", ev.EOSTokenIDs)
		}
	}
}

// TestRecordPairTokenized: a record may carry token ids instead of text
// (crossin model train reads such files with a model that has no
// tokenizer); a text record without a tokenizer is an error, not a panic.
func TestRecordPairTokenized(t *testing.T) {
	r := Record{PromptIDs: []int32{1, 5}, ResponseIDs: []int32{6, 2}}
	p, err := r.Pair(nil, template.Alpaca, 2)
	if err != nil || !slices.Equal(p.Prompt, []int32{1, 5}) || !slices.Equal(p.Response, []int32{6, 2}) {
		t.Fatalf("tokenized record: %+v, %v", p, err)
	}
	if _, err := (&Record{PromptIDs: []int32{1}}).Pair(nil, template.Alpaca, 2); err == nil || err.Error() != "response_ids is empty" {
		t.Errorf("empty response_ids: %v", err)
	}
	if _, err := (&Record{Instruction: "Say hi.", Output: "Hi."}).Pair(nil, template.Alpaca, 2); err == nil || err.Error() != "a text record needs a tokenizer" {
		t.Errorf("text record without a tokenizer: %v", err)
	}
}
