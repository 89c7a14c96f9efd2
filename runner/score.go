package runner

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/crossin-lab/crossin/atomicfile"
	"github.com/crossin-lab/crossin/bench"
	"github.com/crossin-lab/crossin/metrics"
	"github.com/crossin-lab/crossin/trainer"
)

// ScoreFile is the output of a score stage: metrics.Result in its JSON form
// (SeaEval's keys plus crossin's "crossin" object).
const ScoreFile = "score.json"

// LoadBenchmark loads a benchmark file and selects what an evaluation
// covers: the first ev.Limit questions (all if 0) in ev.Languages.
func LoadBenchmark(path string, ev *trainer.EvalParams) (*bench.Benchmark, error) {
	b, err := bench.Load(path)
	if err != nil {
		return nil, err
	}
	if ev.Benchmark != "" {
		b.Name = ev.Benchmark
	}
	return b.Select(ev.Limit, ev.Languages...)
}

// ScorePredictions scores an eval stage's predictions (evalDir holds
// predictions.jsonl) on the benchmark file and writes score.json into
// outDir. The answer-extraction and bootstrap seeds are the job's seed, so
// the score is a pure function of its inputs.
func ScorePredictions(benchPath string, ev *trainer.EvalParams, seed int64, evalDir, outDir string) (*metrics.Result, error) {
	b, err := LoadBenchmark(benchPath, ev)
	if err != nil {
		return nil, err
	}
	preds, err := bench.ReadPredictions(filepath.Join(evalDir, trainer.PredictionsFile))
	if err != nil {
		return nil, err
	}
	mode := ev.Mode
	if mode == "" {
		mode = metrics.ModeGenerate
	}
	res, err := metrics.Score(b, preds, ev.Languages,
		metrics.WithMode(mode), metrics.WithLengthNorm(ev.LengthNorm),
		metrics.WithSeed(uint64(seed)), metrics.WithBootstrap(1000, uint64(seed)))
	if err != nil {
		return nil, fmt.Errorf("score %s: %w", ev.Benchmark, err)
	}
	data, err := res.MarshalJSON()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(outDir, 0o777); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteAll(filepath.Join(outDir, ScoreFile), append(data, '\n'), 0o666); err != nil {
		return nil, err
	}
	return res, nil
}

// ReadScore reads a score stage's score.json.
func ReadScore(dir string) (*metrics.Result, error) {
	data, err := os.ReadFile(filepath.Join(dir, ScoreFile))
	if err != nil {
		return nil, err
	}
	var r metrics.Result
	if err := r.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ScoreFile), err)
	}
	return &r, nil
}
