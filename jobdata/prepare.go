package jobdata

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/crossin-lab/crossin/bench"
	"github.com/crossin-lab/crossin/engine/model"
	"github.com/crossin-lab/crossin/engine/tokenizer"
	"github.com/crossin-lab/crossin/template"
	"github.com/crossin-lab/crossin/trainer"
)

// PrepareTrain tokenizes the mixture files with the model's tokenizer and
// template and writes dir/train.tokens.jsonl in training order (see
// BuildTrain). It returns the file's path and what was cut or dropped.
func PrepareTrain(modelDir string, tmpl template.Template, mixtures []string, p *trainer.TrainParams, seed int64, dir string) (string, TrainStats, error) {
	if err := tmpl.Validate(); err != nil {
		return "", TrainStats{}, err
	}
	tok, eos, err := loadTokenizer(modelDir)
	if err != nil {
		return "", TrainStats{}, err
	}
	var pairs []Pair
	for _, path := range mixtures {
		ps, err := ReadRecords(path, tok, tmpl, eos)
		if err != nil {
			return "", TrainStats{}, err
		}
		pairs = append(pairs, ps...)
	}
	lines, stats, err := BuildTrain(pairs, Steps{BatchSize: p.BatchSize, GradAccum: p.GradAccum, Epochs: p.Epochs, MaxSteps: p.MaxSteps, MaxLength: p.MaxLength}, seed)
	if err != nil {
		return "", stats, fmt.Errorf("train data: %w", err)
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return "", stats, err
	}
	out := filepath.Join(dir, TrainFile)
	return out, stats, WriteTrain(out, lines)
}

// Eval is a prepared evaluation: the questions, the prompts written to
// Path, and what Finish needs to turn the trainer's outputs into
// predictions.
type Eval struct {
	Path      string
	Benchmark *bench.Benchmark
	Prompts   []PromptLine
	Mode      string
	Pick      bench.LogLikMode
	tok       *tokenizer.Tokenizer
}

// PrepareEval loads the benchmark file, keeps ev's languages and limit,
// tokenizes every prompt with the model's tokenizer and writes
// dir/eval.tokens.jsonl. It also fills ev's stop and pad tokens from the
// model (generation_config.json, else config.json). wrap is the training
// template the benchmark prompt is wrapped in; "" or ev.Raw feeds it raw.
func PrepareEval(modelDir, benchPath string, ev *trainer.EvalParams, wrap template.Template, dir string) (*Eval, error) {
	b, err := bench.Load(benchPath)
	if err != nil {
		return nil, err
	}
	if ev.Benchmark != "" {
		b.Name = ev.Benchmark
	}
	if b, err = b.Select(ev.Limit, ev.Languages...); err != nil {
		return nil, err
	}
	if ev.Raw { // the CrossIn reference feeds the benchmark prompt as is
		wrap = ""
	}
	if wrap != "" {
		if err := wrap.Validate(); err != nil {
			return nil, err
		}
	}
	tok, _, err := loadTokenizer(modelDir)
	if err != nil {
		return nil, err
	}
	cfg, err := model.LoadDirConfig(modelDir)
	if err != nil {
		return nil, err
	}
	mode := ev.Mode
	if mode == "" {
		mode = "generate"
	}
	prompts, err := BuildEval(b, EvalSpec{Format: bench.PromptFormat(ev.Prompt), PromptTemplate: ev.PromptTemplate, Mode: mode, Wrap: wrap}, tok)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name, err)
	}
	ev.EOSTokenIDs = cfg.EOSTokenIDs
	if cfg.PadTokenID >= 0 {
		ev.PadTokenID = cfg.PadTokenID
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, err
	}
	e := &Eval{Path: filepath.Join(dir, EvalFile), Benchmark: b, Prompts: prompts, Mode: mode, Pick: bench.LogLikSum, tok: tok}
	if ev.LengthNorm {
		e.Pick = bench.LogLikPerToken
	}
	return e, WriteJSONL(e.Path, prompts)
}

// Finish reads the trainer's outputs.jsonl from outDir and writes the
// predictions (crossin score format) to outDir/predictions.jsonl.
func (e *Eval) Finish(outDir string) ([]*bench.Prediction, error) {
	outs, err := ReadJSONL[OutputLine](filepath.Join(outDir, trainer.OutputsFile))
	if err != nil {
		return nil, err
	}
	preds, err := Decode(e.Benchmark, e.Prompts, outs, e.tok, e.Mode, e.Pick)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(outDir, trainer.OutputsFile), err)
	}
	return preds, bench.SavePredictions(filepath.Join(outDir, trainer.PredictionsFile), preds)
}
