package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/engine/model"
	"github.com/crossin-lab/crossin/engine/tokenizer"
	"github.com/crossin-lab/crossin/jobdata"
	"github.com/crossin-lab/crossin/trainer"
	"github.com/crossin-lab/crossin/trainer/conformance"
)

// gemmaStyleTokenizer writes a small tokenizer.json laid out like Gemma's
// (SentencePiece BPE with byte fallback; <pad> 0, <eos> 1, <bos> 2,
// <unk> 3; spaces replaced by "▁" with no prefix space and no
// pre-tokenizer; BOS added by the post-processor) and its
// tokenizer_config.json, and returns the tokenizer.json path.
func gemmaStyleTokenizer(t *testing.T, dir string) string {
	t.Helper()
	vocab := map[string]int{"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3}
	for b := 0; b < 256; b++ {
		vocab[fmt.Sprintf("<0x%02X>", b)] = 4 + b
	}
	next := 260
	add := func(p string) {
		if _, ok := vocab[p]; !ok {
			vocab[p] = next
			next++
		}
	}
	add("▁")
	for c := 'a'; c <= 'z'; c++ {
		add(string(c))
	}
	for c := '0'; c <= '9'; c++ {
		add(string(c))
	}
	add(".")
	var merges []string
	for _, m := range [][2]string{{"▁", "t"}, {"h", "e"}, {"▁t", "he"}, {"▁", "s"}, {"a", "y"}, {"▁s", "ay"}} {
		merges = append(merges, m[0]+" "+m[1])
		add(m[0] + m[1])
	}
	special := func(id int, s string) map[string]any {
		return map[string]any{"id": id, "content": s, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
	}
	tok := map[string]any{
		"version":       "1.0",
		"truncation":    nil,
		"padding":       nil,
		"added_tokens":  []any{special(0, "<pad>"), special(1, "<eos>"), special(2, "<bos>"), special(3, "<unk>")},
		"normalizer":    map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": "▁"},
		"pre_tokenizer": nil,
		"post_processor": map[string]any{
			"type":   "TemplateProcessing",
			"single": []any{map[string]any{"SpecialToken": map[string]any{"id": "<bos>", "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}},
			"pair": []any{map[string]any{"SpecialToken": map[string]any{"id": "<bos>", "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}},
				map[string]any{"SpecialToken": map[string]any{"id": "<bos>", "type_id": 1}}, map[string]any{"Sequence": map[string]any{"id": "B", "type_id": 1}}},
			"special_tokens": map[string]any{"<bos>": map[string]any{"id": "<bos>", "ids": []int{2}, "tokens": []string{"<bos>"}}},
		},
		"decoder": map[string]any{"type": "Sequence", "decoders": []any{
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": "▁"}, "content": " "},
			map[string]any{"type": "ByteFallback"},
			map[string]any{"type": "Fuse"},
		}},
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": "<unk>", "continuing_subword_prefix": nil,
			"end_of_word_suffix": nil, "fuse_unk": true, "byte_fallback": true, "ignore_merges": false, "vocab": vocab, "merges": merges},
	}
	path := filepath.Join(dir, "tokenizer.json")
	b, err := json.Marshal(tok)
	if err != nil {
		t.Fatal(err)
	}
	cfg := `{"add_bos_token": true, "add_eos_token": false, "bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>"}`
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestGemmaTrainAndEval runs a train and an eval job on a tiny random Gemma
// with a Gemma-style byte-fallback tokenizer and Gemma's 256,000-entry
// vocabulary (the embedding padded past the tokenizer, as Gemma's is):
// the sample loss reduction, modules_to_save on tied embeddings,
// truncation counted in the manifest, and generation with the adapter.
func TestGemmaTrainAndEval(t *testing.T) {
	if testing.Short() {
		t.Skip("256k-vocabulary model: skipped in -short")
	}
	work := t.TempDir()
	tokPath := gemmaStyleTokenizer(t, work)
	tok, err := tokenizer.Load(tokPath)
	if err != nil {
		t.Fatal(err)
	}
	ids := tok.Encode("the say é", true)
	// <bos>, "▁the"... no prefix space: "the" is t,he; "é" falls back to bytes.
	if ids[0] != 2 || tok.Decode(ids, true) != "the say é" {
		t.Fatalf("Gemma-style tokenizer: ids %v decode to %q", ids, tok.Decode(ids, true))
	}
	dir := filepath.Join(work, "gemma")
	if err := model.Init(dir, model.InitConfig{Arch: "gemma", Layers: 1, Hidden: 16, Heads: 2, KVHeads: 1, HeadDim: 12,
		Intermediate: 24, Tokenizer: tokPath, Vocab: 256000, Seed: 3, MaxPositions: 512}); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c := m.Config; c.VocabSize != 256000 || !c.TieWordEmbeddings || !c.EmbedScale || c.HeadDim != 12 || c.HiddenAct != "gelu_pytorch_tanh" {
		t.Fatalf("tiny Gemma config: %+v", c)
	}
	m.Close()
	data := filepath.Join(work, "mix.jsonl")
	var lines []byte
	for i := 0; i < 4; i++ {
		out := fmt.Sprintf("say %d.", i)
		if i == 3 {
			out = strings.Repeat("the say ", 30) + "."
		}
		rec, _ := json.Marshal(map[string]any{"id": fmt.Sprint(i), "mode": "base", "src_lang": "en", "tgt_lang": "en",
			"instruction": fmt.Sprintf("say %d", i), "input": "", "output": out, "source_ids": []string{fmt.Sprint(i)}})
		lines = append(append(lines, rec...), '\n')
	}
	if err := os.WriteFile(data, lines, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(work, "train")
	tr := New()
	tp := &trainer.TrainParams{LoRA: trainer.LoRA{R: 2, Alpha: 4, TargetModules: []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"},
		ModulesToSave: []string{"embed_tokens", "lm_head"}},
		LearningRate: 1e-2, MaxSteps: 2, BatchSize: 1, GradAccum: 2, MaxLength: 24, Scheduler: "cosine", MaxGradNorm: 1,
		LossReduction: "sample"}
	tokens, stats, err := jobdata.PrepareTrain(dir, "gemma", []string{data}, tp, 5, filepath.Join(work, "inputs"))
	if err != nil {
		t.Fatal(err)
	}
	if stats.Truncated != 1 {
		t.Errorf("stats %+v: want 1 truncated example", stats)
	}
	_, err = tr.Run(context.Background(), &trainer.JobSpec{Contract: trainer.Contract, Kind: trainer.KindTrain,
		Model: trainer.ModelRef{Dir: dir}, Data: []string{tokens}, Train: tp, Seed: 5, OutputDir: out}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conformance.CheckLayout(out, trainer.KindTrain); err != nil {
		t.Fatal(err)
	}
	evalOut := filepath.Join(work, "eval")
	ev := &trainer.EvalParams{Benchmark: "cross_mmlu", Languages: []string{"English"}, Mode: "generate", Limit: 1, MaxNewTokens: 3}
	prep, err := jobdata.PrepareEval(dir, "../../experiments/data/bench/cross_mmlu.sample.jsonl", ev, "gemma", filepath.Join(work, "inputs-eval"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Run(context.Background(), &trainer.JobSpec{Contract: trainer.Contract, Kind: trainer.KindEval,
		Model: trainer.ModelRef{Dir: dir}, Adapter: filepath.Join(out, trainer.AdapterDir),
		Data: []string{prep.Path}, Eval: ev, Seed: 1, OutputDir: evalOut}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := conformance.CheckLayout(evalOut, trainer.KindEval); err != nil {
		t.Fatal(err)
	}
}
