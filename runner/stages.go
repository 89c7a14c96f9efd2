package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/crossin-lab/crossin/atomicfile"
	"github.com/crossin-lab/crossin/engine/model"
	"github.com/crossin-lab/crossin/hub"
	"github.com/crossin-lab/crossin/jobdata"
	"github.com/crossin-lab/crossin/mixture"
	"github.com/crossin-lab/crossin/resultset"
	"github.com/crossin-lab/crossin/runner/plan"
	"github.com/crossin-lab/crossin/schema"
	"github.com/crossin-lab/crossin/smoke"
	"github.com/crossin-lab/crossin/template"
	"github.com/crossin-lab/crossin/trainer"
)

// Output files of the stages the runner implements itself.
const (
	MixtureFile = "mixture.jsonl" // data stage: the training records
	StatsFile   = "stats.json"    // data stage: counts per mode and language pair
)

// Backends maps a backend kind to the trainer that runs its jobs. The
// embedded one is registered by the CLI wiring (so that this package does
// not depend on the engine's training code); container and Slurm backends
// register theirs.
type Backends map[string]trainer.Trainer

// stageFunc returns the function that produces a plan stage's outputs.
func stageFunc(p *plan.Plan, ps *plan.Stage, backends Backends) (func(context.Context, *StageContext) error, error) {
	env := stageEnv{p: p, backends: backends}
	if p.Smoke != nil {
		o, err := smoke.FromKey(p.Smoke)
		if err != nil {
			return nil, err
		}
		env.smoke = &o
	}
	r := stageRunners[ps.Kind]
	if r == nil {
		return nil, fmt.Errorf("stage %s: unknown kind %q", ps.ID, ps.Kind)
	}
	return r(env, ps)
}

// stageEnv is what every stage runner may need besides its stage.
type stageEnv struct {
	p        *plan.Plan
	backends Backends
	smoke    *smoke.Options // nil unless the plan is a smoke run
}

// A stageRunner returns the function that produces the outputs of a plan
// stage of its kind.
type stageRunner func(env stageEnv, ps *plan.Stage) (func(context.Context, *StageContext) error, error)

// stageRunners has one runner per plan.Kind: the one place the runner
// dispatches on a stage's kind (TestStageRunnersCoverKinds).
var stageRunners = map[plan.Kind]stageRunner{
	plan.KindModel: func(env stageEnv, ps *plan.Stage) (func(context.Context, *StageContext) error, error) {
		if sm := env.smoke; sm != nil {
			return func(ctx context.Context, sc *StageContext) error { return runSmokeModel(ctx, ps.Model, *sm, sc) }, nil
		}
		return func(ctx context.Context, sc *StageContext) error { return runModel(ctx, ps.Model, sc) }, nil
	},
	plan.KindData: func(env stageEnv, ps *plan.Stage) (func(context.Context, *StageContext) error, error) {
		return func(ctx context.Context, sc *StageContext) error { return runData(ctx, ps.Data, env.smoke, sc) }, nil
	},
	plan.KindTrain: func(env stageEnv, ps *plan.Stage) (func(context.Context, *StageContext) error, error) {
		tr, err := env.trainer(ps)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, sc *StageContext) error { return runTrain(ctx, tr, ps, sc) }, nil
	},
	plan.KindEval: func(env stageEnv, ps *plan.Stage) (func(context.Context, *StageContext) error, error) {
		tr, err := env.trainer(ps)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, sc *StageContext) error { return runEval(ctx, tr, ps, sc) }, nil
	},
	plan.KindScore: func(env stageEnv, ps *plan.Stage) (func(context.Context, *StageContext) error, error) {
		return func(ctx context.Context, sc *StageContext) error { return runScore(ctx, env.p, ps, sc) }, nil
	},
	plan.KindReport: func(env stageEnv, ps *plan.Stage) (func(context.Context, *StageContext) error, error) {
		return func(ctx context.Context, sc *StageContext) error { return runReport(env.p, ps, sc) }, nil
	},
}

// trainer returns the trainer of the stage's backend (train and eval).
func (env stageEnv) trainer(ps *plan.Stage) (trainer.Trainer, error) {
	kind := schema.BackendEmbedded
	if ps.Backend != nil {
		kind = ps.Backend.Kind
	}
	tr := env.backends[kind]
	if tr == nil {
		return nil, fmt.Errorf("stage %s: no trainer for the %s backend in this build", ps.ID, kind)
	}
	return tr, nil
}

// depOfKind returns the output directory of the stage's dependency of the
// given kind.
func depOfKind(ps *plan.Stage, sc *StageContext, input string) (string, error) {
	for _, in := range ps.Inputs {
		if in.Name == input {
			if d := sc.Inputs[in.Stage]; d != "" {
				return d, nil
			}
		}
	}
	return "", fmt.Errorf("stage %s: input %q is not built", ps.ID, input)
}

func runModel(ctx context.Context, mp *plan.ModelParams, sc *StageContext) error {
	m := mp.Model
	switch {
	case m.Init != nil:
		in := m.Init
		fmt.Fprintf(sc.Log, "model init: llama %d layers, hidden %d, tokenizer %s, seed %d\n", in.NumHiddenLayers, in.HiddenSize, in.Tokenizer, in.Seed)
		return model.Init(sc.OutDir, model.InitConfig{
			Arch:         m.Family,
			Layers:       in.NumHiddenLayers,
			Hidden:       in.HiddenSize,
			Heads:        in.NumAttentionHeads,
			KVHeads:      in.NumKeyValueHeads,
			Intermediate: in.IntermediateSize,
			Tokenizer:    in.Tokenizer,
			Seed:         uint64(in.Seed),
			MaxPositions: in.MaxPositionEmbeddings,
			RopeTheta:    in.RopeTheta,
			Tie:          in.TieWordEmbeddings,
		})
	case m.Path != "":
		fmt.Fprintf(sc.Log, "model: copying %s into the cache\n", m.Path)
		return copyTree(m.Path, sc.OutDir)
	case m.Hub != nil:
		if mp.Commit == "" {
			return fmt.Errorf("model %s: hub revision %q of %s is not pinned to a commit", m.Name, m.Hub.Revision, m.Hub.Repo)
		}
		fmt.Fprintf(sc.Log, "model: downloading %s@%s\n", m.Hub.Repo, mp.Commit)
		_, files, err := hub.NewClient().Fetch(ctx, hub.Model, m.Hub.Repo, mp.Commit, func(p string) bool {
			// Weights, configs and tokenizer files; not other formats'
			// weights (pytorch_model.bin, *.gguf, onnx/...).
			return !strings.Contains(p, "/") && (strings.HasSuffix(p, ".json") || strings.HasSuffix(p, ".safetensors") ||
				strings.HasSuffix(p, ".model") || strings.HasSuffix(p, ".txt"))
		})
		if err != nil {
			return fmt.Errorf("model %s: %w", m.Name, err)
		}
		names := make([]string, 0, len(files))
		for p := range files {
			names = append(names, p)
		}
		sort.Strings(names)
		for _, p := range names {
			if err := copyFile(files[p], filepath.Join(sc.OutDir, p)); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("model %s: no source", m.Name)
}

// runSmokeModel makes a smoke run's model: a tiny random model of the
// architecture of the real one's config.json, with its real tokenizer,
// both read through the hub client (or from the local model directory).
// A model that is already a random init is made as it is declared.
func runSmokeModel(ctx context.Context, mp *plan.ModelParams, o smoke.Options, sc *StageContext) error {
	m := mp.Model
	var cfg, tok, tokCfg string
	switch {
	case m.Init != nil:
		return runModel(ctx, mp, sc)
	case m.Path != "":
		cfg, tok = filepath.Join(m.Path, "config.json"), filepath.Join(m.Path, "tokenizer.json")
		if _, err := os.Stat(filepath.Join(m.Path, "tokenizer_config.json")); err == nil {
			tokCfg = filepath.Join(m.Path, "tokenizer_config.json")
		}
	case m.Hub != nil:
		if mp.Commit == "" {
			return fmt.Errorf("model %s: hub revision %q of %s is not pinned to a commit", m.Name, m.Hub.Revision, m.Hub.Repo)
		}
		hc := hub.NewClient()
		fmt.Fprintf(sc.Log, "smoke model: config and tokenizer of %s@%s from %s\n", m.Hub.Repo, mp.Commit, hc.Endpoint())
		get := func(name string, optional bool) (string, error) {
			p, err := hc.Download(ctx, hub.Model, m.Hub.Repo, mp.Commit, name)
			if err != nil && optional && errors.Is(err, hub.ErrNotFound) {
				return "", nil
			}
			if err != nil {
				return "", fmt.Errorf("model %s: %w", m.Name, err)
			}
			return p, nil
		}
		var err error
		if cfg, err = get("config.json", false); err != nil {
			return err
		}
		if tok, err = get("tokenizer.json", false); err != nil {
			return err
		}
		if tokCfg, err = get("tokenizer_config.json", true); err != nil {
			return err
		}
	default:
		return fmt.Errorf("model %s: no source", m.Name)
	}
	desc, err := smoke.Model(sc.OutDir, cfg, tok, tokCfg, o)
	if err != nil {
		return fmt.Errorf("model %s: %w", m.Name, err)
	}
	fmt.Fprintf(sc.Log, "smoke model %s: %s\n", m.Name, desc)
	return nil
}

// MixtureSpec converts a mixture declared in a spec into the data
// builder's spec with mixture.FromSchema, the same mapping `crossin data
// build` uses, so a data stage writes the same bytes as the CLI. Hub data
// sources are pinned to the commits the plan resolved.
func MixtureSpec(dp *plan.DataParams) (mixture.Spec, error) {
	s := &schema.Spec{Mixtures: []*schema.Mixture{dp.Mixture}}
	for _, d := range dp.Sources {
		if d.Hub != nil {
			c := dp.Commits[d.Name]
			if c == "" {
				return mixture.Spec{}, fmt.Errorf("mixture %s: hub data source %s is not pinned to a commit", dp.Mixture.Name, d.Name)
			}
			pinned := *d
			pinned.Hub = &schema.Hub{Repo: d.Hub.Repo, Revision: c}
			d = &pinned
		}
		s.Data = append(s.Data, d)
	}
	return mixture.FromSchema(s, dp.Mixture.Name)
}

func runData(ctx context.Context, dp *plan.DataParams, sm *smoke.Options, sc *StageContext) error {
	sp, err := MixtureSpec(dp)
	if err != nil {
		return err
	}
	if sm != nil {
		sp = smoke.Mixture(sp, *sm)
		fmt.Fprintf(sc.Log, "smoke run: parts capped to a few records (%d, or %d plus the volume's bit length; all: %d)\n", sm.Items, sm.Items, smoke.Count(mixture.All, *sm))
	}
	res, err := mixture.Build(ctx, sp)
	if err != nil {
		return err
	}
	fmt.Fprintf(sc.Log, "mixture %s: %d records, %s\n", res.Name, len(res.Records), res.Hash)
	_ = res.Stats.WriteTable(sc.Log)
	if err := res.WriteFile(filepath.Join(sc.OutDir, MixtureFile)); err != nil {
		return err
	}
	st, err := json.MarshalIndent(res.Stats, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteAll(filepath.Join(sc.OutDir, StatsFile), append(st, '\n'), 0o666)
}

// InputsDir holds a train or eval stage's tokenized trainer inputs
// (package jobdata) while the trainer runs; it is removed afterwards and is
// never an output. It lies in the stage's work directory, beside (not in)
// the output directory: a trainer's manifest hashes everything in the
// output directory, so inputs there would be listed in it, and whether they
// were depended on timing when a trainer ran across a re-run (a Kubernetes
// Job re-attached to, whose pod wrote its manifest after the re-run's
// runner had cleared the directory and before it wrote the inputs again).
const InputsDir = "inputs"

func modelRef(m *schema.Model, dir string) trainer.ModelRef {
	ref := trainer.ModelRef{Dir: dir, Family: m.Family, DType: m.DType}
	if m.Hub != nil {
		ref.Repo, ref.Revision = m.Hub.Repo, m.Hub.Revision
	}
	return ref
}

// runJob runs a trainer job whose output directory is the stage's, and
// checks the manifest the trainer wrote against the files.
func runJob(ctx context.Context, tr trainer.Trainer, job *trainer.JobSpec, sc *StageContext, be *schema.Backend) error {
	job.Contract = trainer.Contract
	job.OutputDir = sc.OutDir
	if be != nil && len(be.Options) > 0 {
		job.Options = be.Options
	}
	// A backend's threads setting caps the stage's share of the CPUs, and
	// what it is lent later (it never changes results: trainers are
	// deterministic across threads).
	if be != nil {
		sc.threadCap = be.Threads
	}
	job.Threads = capThreads(sc.Threads, sc.threadCap)
	if err := job.Validate(); err != nil {
		return err
	}
	spec, _ := json.MarshalIndent(job, "", "  ")
	fmt.Fprintf(sc.Log, "job spec:\n%s\n", spec)
	if lt, ok := tr.(interface {
		WithLog(io.Writer) trainer.Trainer
	}); ok {
		tr = lt.WithLog(sc.Log)
	}
	if _, err := tr.Run(ctx, job, sc); err != nil {
		return err
	}
	if _, err := trainer.ReadManifest(sc.OutDir); err != nil {
		return fmt.Errorf("trainer output does not match its manifest: %w", err)
	}
	return nil
}

func runTrain(ctx context.Context, tr trainer.Trainer, ps *plan.Stage, sc *StageContext) error {
	modelDir, err := depOfKind(ps, sc, "model")
	if err != nil {
		return err
	}
	dataDir, err := depOfKind(ps, sc, "data")
	if err != nil {
		return err
	}
	tp := ps.Train.Train
	// Contract v2: the trainer gets token ids in training order, written
	// here from the mixture with the model's tokenizer and template.
	inputs := filepath.Join(sc.WorkDir, InputsDir)
	defer os.RemoveAll(inputs)
	tokens, stats, err := jobdata.PrepareTrain(modelDir, template.Template(ps.Train.Model.Template),
		[]string{filepath.Join(dataDir, MixtureFile)}, &tp, ps.Train.Seed, inputs)
	if err != nil {
		return err
	}
	fmt.Fprintf(sc.Log, "tokenized %d examples into %d optimiser steps (%d tokens); %d cut at max_length %d, %d dropped (no response token left)\n",
		stats.Examples, stats.Steps, stats.Tokens, stats.Truncated, tp.MaxLength, stats.Dropped)
	return runJob(ctx, tr, &trainer.JobSpec{
		Kind:  trainer.KindTrain,
		Model: modelRef(ps.Train.Model, modelDir),
		Data:  []string{tokens},
		Train: &tp,
		Seed:  ps.Train.Seed,
	}, sc, ps.Backend)
}

func runEval(ctx context.Context, tr trainer.Trainer, ps *plan.Stage, sc *StageContext) error {
	modelDir, err := depOfKind(ps, sc, "model")
	if err != nil {
		return err
	}
	ep := ps.Eval
	benchPath, err := benchmarkFile(ctx, ep.Benchmark, ep.Commit)
	if err != nil {
		return err
	}
	ev := ep.Eval
	if ev.Benchmark == "" {
		ev.Benchmark = ep.Benchmark.Task
	}
	inputs := filepath.Join(sc.WorkDir, InputsDir)
	defer os.RemoveAll(inputs)
	prep, err := jobdata.PrepareEval(modelDir, benchPath, &ev, template.Template(ep.Model.Template), inputs)
	if err != nil {
		return err
	}
	job := &trainer.JobSpec{
		Kind:  trainer.KindEval,
		Model: modelRef(ep.Model, modelDir),
		Data:  []string{prep.Path},
		Eval:  &ev,
		Seed:  ep.Seed,
	}
	if ep.Tuned {
		ad, err := depOfKind(ps, sc, "adapter")
		if err != nil {
			return err
		}
		job.Adapter = filepath.Join(ad, trainer.AdapterDir)
	}
	if err := runJob(ctx, tr, job, sc, ps.Backend); err != nil {
		return err
	}
	// The trainer returned token ids or option scores; the answers are
	// decoded and extracted here, once for every trainer.
	_, err = prep.Finish(sc.OutDir)
	return err
}

func runScore(ctx context.Context, p *plan.Plan, ps *plan.Stage, sc *StageContext) error {
	evalDir, err := depOfKind(ps, sc, "predictions")
	if err != nil {
		return err
	}
	b := ps.Score.Benchmark
	commit := ""
	for _, in := range ps.Inputs {
		if es := p.Stage(in.Stage); es != nil && es.Eval != nil {
			commit = es.Eval.Commit
		}
	}
	benchPath, err := benchmarkFile(ctx, b, commit)
	if err != nil {
		return err
	}
	ev := b.Eval
	if ev.Benchmark == "" {
		ev.Benchmark = b.Task
	}
	ev.Languages = ps.Score.Languages
	// Seed 0: scoring is a function of the predictions alone, so that an
	// untuned model's eval (shared by every seed) scores once.
	res, err := ScorePredictions(benchPath, &ev, 0, evalDir, sc.OutDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(sc.Log, "%s: overall_acc %.4f over %d questions\n", ev.Benchmark, res.OverallAcc, res.N)
	return nil
}

func runReport(p *plan.Plan, ps *plan.Stage, sc *StageContext) error {
	var ep *plan.ExperimentPlan
	for _, e := range p.Experiments {
		if e.Report == ps.ID {
			ep = e
		}
	}
	if ep == nil {
		return fmt.Errorf("report stage %s belongs to no experiment", ps.ID)
	}
	// The report stage's output holds no row sources: its key covers the
	// scores, not the keys of the stages behind them.
	set, err := collect(p, ep, false, func(stageID string) (string, string, string) {
		if d := sc.Inputs[stageID]; d != "" {
			return d, resultset.StatusOK, ""
		}
		return "", resultset.StatusMissing, ""
	})
	if err != nil {
		return err
	}
	return RenderReport(sc.OutDir, set)
}

// benchmarkFile returns a local file with the benchmark's questions: its
// path, or for a hub benchmark (SeaEval's repository: TASK.json at the
// root) the file downloaded at the commit the plan pinned.
func benchmarkFile(ctx context.Context, b *schema.Benchmark, commit string) (string, error) {
	if b.Hub == nil {
		return b.Path, nil
	}
	if commit == "" {
		return "", fmt.Errorf("benchmark %s: hub revision %q of %s is not pinned to a commit", b.Name, b.Hub.Revision, b.Hub.Repo)
	}
	path, err := hub.NewClient().Download(ctx, hub.Dataset, b.Hub.Repo, commit, b.Task+".json")
	if err != nil {
		return "", fmt.Errorf("benchmark %s: %w", b.Name, err)
	}
	return path, nil
}

func copyFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o777); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// copyTree copies the regular files of src into dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o777)
		}
		if !d.Type().IsRegular() {
			// Hugging Face snapshot directories hold symlinks to blobs.
			if d.Type()&fs.ModeSymlink == 0 {
				return nil
			}
		}
		return copyFile(p, target)
	})
}
