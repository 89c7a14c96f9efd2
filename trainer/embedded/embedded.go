// Package embedded is the in-process trainer: it implements the trainer
// contract v2 (package trainer, docs/trainer-contract.md) with crossin's
// pure-Go engine (engine/model for inference, engine/train for LoRA
// fine-tuning). The runner calls it directly; `crossin trainer run
// SPEC.json` runs it as a process, so the same binary can serve as a
// container trainer.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/crossin-lab/crossin/engine/lora"
	"github.com/crossin-lab/crossin/engine/model"
	"github.com/crossin-lab/crossin/engine/train"
	"github.com/crossin-lab/crossin/jobdata"
	"github.com/crossin-lab/crossin/trainer"
)

// Name identifies this trainer in manifests. It deliberately carries no
// version string that changes between builds of the same engine code, so
// manifests are reproducible; the runner keys its cache on the crossin
// version separately.
const Name = "crossin-embedded/v1"

// CodeVersion enters the cache keys of train and eval stages run by this
// trainer (plan.WithCodeVersion): bump it whenever a change makes the same
// job produce different bytes, so that stale outputs are never reused.
// TestEngineFingerprint enforces it: outputs that change under the same
// CodeVersion fail it (then bump, and record with -update).
const CodeVersion = "crossin-embedded/7"

// Trainer is the embedded trainer.
type Trainer struct {
	// Log receives human-readable progress; nil writes to
	// OutputDir/trainer.log.
	Log io.Writer
}

var _ trainer.Trainer = (*Trainer)(nil)

// New returns the embedded trainer.
func New() *Trainer { return &Trainer{} }

// Run executes one job. A train job resumes from OutputDir/checkpoints.
// Outputs from an interrupted earlier attempt (anything but checkpoints/)
// are overwritten; manifest.json is written last.
func (t *Trainer) Run(ctx context.Context, job *trainer.JobSpec, progress trainer.Progress) (*trainer.Manifest, error) {
	if err := job.Validate(); err != nil {
		return nil, err
	}
	out := job.OutputDir
	if err := os.MkdirAll(out, 0o777); err != nil {
		return nil, err
	}
	// A manifest from an earlier run of another job must not survive.
	if err := os.Remove(filepath.Join(out, trainer.ManifestFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	logw := t.Log
	if logw == nil {
		f, err := os.OpenFile(filepath.Join(out, trainer.LogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o666)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		logw = f
	}
	if progress == nil {
		progress = nopProgress{}
	}
	fmt.Fprintf(logw, "%s: %s job, model %s, %s\n", Name, job.Kind, job.Model.Dir, time.Now().UTC().Format(time.RFC3339))
	switch job.Kind {
	case trainer.KindTrain:
		return t.train(ctx, job, progress, logw)
	case trainer.KindEval:
		return t.eval(ctx, job, progress, logw)
	}
	return nil, fmt.Errorf("job kind %q", job.Kind)
}

type nopProgress struct{}

func (nopProgress) Update(int, int, string) {}

func (t *Trainer) train(ctx context.Context, job *trainer.JobSpec, progress trainer.Progress, logw io.Writer) (*trainer.Manifest, error) {
	if len(job.Options) > 0 {
		return nil, fmt.Errorf("job spec: the embedded trainer has no options (got %v)", job.Options)
	}
	m, err := model.Load(job.Model.Dir)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	var steps [][]train.Sequence
	examples := 0
	for _, path := range job.Data {
		lines, err := jobdata.ReadTrain(path, m.Config.VocabSize)
		if err != nil {
			return nil, err
		}
		for _, step := range lines {
			seqs := make([]train.Sequence, len(step))
			for i, l := range step {
				seqs[i] = train.Sequence{IDs: l.InputIDs, Labels: l.Labels}
			}
			steps = append(steps, seqs)
			examples += len(seqs)
		}
	}
	base, err := train.FromModel(m)
	if err != nil {
		return nil, err
	}
	pad := 0
	if m.Config.PadTokenID >= 0 {
		pad = m.Config.PadTokenID
	}
	opts := []train.Option{
		train.WithSeed(job.Seed),
		train.WithThreads(job.Threads),
		train.WithCheckpoints(filepath.Join(job.OutputDir, trainer.CheckpointDir)),
		train.WithCallback(progress),
		train.WithProgress(logw, false),
		train.WithPadID(pad),
		train.WithSteps(steps),
	}
	if l, ok := progress.(trainer.ThreadLender); ok && job.Threads > 0 {
		opts = append(opts, train.WithThreadsNow(func() int { return threadsNow(l, job.Threads) }))
	}
	if job.Train.InitAdapter != "" {
		a, err := lora.Load(job.Train.InitAdapter)
		if err != nil {
			return nil, fmt.Errorf("train.init_adapter: %w", err)
		}
		opts = append(opts, train.WithAdapter(a))
	}
	fmt.Fprintf(logw, "training %d optimiser steps on %d tokenized examples\n", len(steps), examples)
	res, err := train.Run(ctx, base, nil, trainConfig(job.Train), opts...)
	if err != nil {
		return nil, err
	}
	if res.Resumed > 0 {
		fmt.Fprintln(logw, trainer.ResumedLine(res.Resumed))
	}
	res.Adapter.Config.BaseModel = job.Model.Repo
	if err := res.Adapter.Save(filepath.Join(job.OutputDir, trainer.AdapterDir)); err != nil {
		return nil, err
	}
	if err := train.WriteLossCurve(filepath.Join(job.OutputDir, trainer.LossFile), res.Curve); err != nil {
		return nil, err
	}
	summary := map[string]any{"steps": res.Steps, "tokens": res.Tokens, "examples": examples}
	if n := len(res.Curve.Steps); n > 0 {
		summary["final_loss"] = res.Curve.Steps[n-1].Loss
	}
	return trainer.WriteManifest(job.OutputDir, trainer.KindTrain, Name, summary)
}

// trainConfig translates the contract's train parameters into the
// engine's configuration.
func trainConfig(p *trainer.TrainParams) train.Config {
	return train.Config{
		LoRA: train.LoRAParams{R: p.LoRA.R, Alpha: p.LoRA.Alpha, Dropout: p.LoRA.Dropout,
			TargetModules: p.LoRA.TargetModules, ModulesToSave: p.LoRA.ModulesToSave},
		LearningRate: p.LearningRate, Epochs: p.Epochs, MaxSteps: p.MaxSteps,
		BatchSize: p.BatchSize, GradAccum: p.GradAccum, MaxLength: p.MaxLength,
		Scheduler: p.Scheduler, WarmupRatio: p.WarmupRatio, WeightDecay: p.WeightDecay,
		MaxGradNorm: p.MaxGradNorm, CheckpointEvery: p.CheckpointEvery,
		LossReduction: p.LossReduction,
	}
}

// WithLog returns a trainer that logs to w (the runner passes the stage's
// log, so the trainer's lines are kept with the stage's outputs).
func (t *Trainer) WithLog(w io.Writer) trainer.Trainer { return &Trainer{Log: w} }
