// Package trainer defines version 2 of the trainer contract: the interface
// between crossin's runner and any program that trains or evaluates a
// model (the embedded Go engine, the Hugging Face GPU trainer in
// trainers/hf, either in a container or a Slurm job).
//
// Version 2 hands trainers tokenized inputs (package jobdata writes them):
// the paper's semantics (templates, masking, truncation, data order,
// benchmark prompts, answer extraction) stay in crossin's Go code, and a
// trainer does tensor work only.
//
// A trainer reads one JobSpec (JSON) and writes a fixed layout into the
// job's output directory, ending with manifest.json, which lists every
// output file with its SHA-256. The manifest is written last and
// atomically, so its presence means the job finished; a directory without
// one is an interrupted job and its contents (apart from checkpoints/) are
// not to be trusted. docs/trainer-contract.md is the prose version of this
// file.
package trainer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// Contract names this version of the contract in job specs and manifests.
// It enters the cache key of every train and eval stage, so outputs of
// different versions are never mixed.
const Contract = "crossin.trainer/v2"

// Job kinds.
const (
	KindTrain = "train" // LoRA fine-tuning: writes adapter/ and loss.json
	KindEval  = "eval"  // benchmark inference: writes predictions.jsonl
)

// Fixed output layout, relative to JobSpec.OutputDir.
const (
	ManifestFile    = "manifest.json"
	AdapterDir      = "adapter"           // PEFT adapter_config.json + adapter_model.safetensors
	LossFile        = "loss.json"         // LossCurve
	PredictionsFile = "predictions.jsonl" // crossin score format, written by the runner from OutputsFile
	OutputsFile     = "outputs.jsonl"     // eval: generated token ids or option log-likelihoods per prompt
	CheckpointDir   = "checkpoints"       // trainer-private; used to resume, not an output
	LogFile         = "trainer.log"       // human-readable log, not hashed into results
)

// JobSpec is the single input of a trainer. Paths are absolute on the
// machine (or inside the container) that runs the trainer.
type JobSpec struct {
	Contract  string       `json:"contract"` // Contract
	Kind      string       `json:"kind"`     // KindTrain or KindEval
	Model     ModelRef     `json:"model"`
	Adapter   string       `json:"adapter,omitempty"` // eval: adapter directory to apply; empty = base model
	Data      []string     `json:"data"`              // train: train.tokens.jsonl; eval: eval.tokens.jsonl (package jobdata)
	Train     *TrainParams `json:"train,omitempty"`
	Eval      *EvalParams  `json:"eval,omitempty"`
	Seed      int64        `json:"seed"`
	OutputDir string       `json:"output_dir"`
	// Threads bounds the CPU threads a trainer may use (0 = all); the
	// embedded trainer bounds each of the engine's loops and products to it
	// (tensor.Threads), so stages sharing a process keep to their share.
	// It never changes results: trainers must be deterministic across it.
	Threads int `json:"threads,omitempty"`
	// Options are trainer-specific settings that may change bytes but
	// never semantics (an attention kernel, a micro-batch token budget).
	// They enter the cache key; a trainer rejects options it does not know.
	Options map[string]string `json:"options,omitempty"`
}

// ModelRef points to a Hugging Face format model directory.
type ModelRef struct {
	Dir      string `json:"dir"`                // local directory with config.json, *.safetensors, tokenizer.json
	Repo     string `json:"repo,omitempty"`     // informational: hub repo id it came from
	Revision string `json:"revision,omitempty"` // informational: pinned revision
	Family   string `json:"family,omitempty"`   // llama, mistral, qwen2, gemma
	DType    string `json:"dtype,omitempty"`    // float32, bfloat16, float16
}

// LoRA holds the adapter hyperparameters (PEFT's LoraConfig names).
type LoRA struct {
	R             int      `json:"r"`
	Alpha         float64  `json:"alpha"`
	Dropout       float64  `json:"dropout"`
	TargetModules []string `json:"target_modules"`
	ModulesToSave []string `json:"modules_to_save,omitempty"`
}

// TrainParams are the fine-tuning hyperparameters.
type TrainParams struct {
	LoRA            LoRA    `json:"lora"`
	LearningRate    float64 `json:"learning_rate"`
	Epochs          float64 `json:"epochs"`
	MaxSteps        int     `json:"max_steps,omitempty"` // >0 overrides Epochs
	BatchSize       int     `json:"batch_size"`          // micro-batch
	GradAccum       int     `json:"grad_accum"`
	MaxLength       int     `json:"max_length"`
	Scheduler       string  `json:"scheduler"` // cosine, linear, constant
	WarmupRatio     float64 `json:"warmup_ratio"`
	WeightDecay     float64 `json:"weight_decay"`
	MaxGradNorm     float64 `json:"max_grad_norm"`
	CheckpointEvery int     `json:"checkpoint_every,omitempty"` // optimiser steps; 0 = trainer default
	// LossReduction says how an optimiser step's token losses combine:
	// "token" (every label token of the step weighs the same; the default)
	// or "sample" (every example weighs the same: the mean of per-example
	// mean losses, as Hugging Face's Trainer with micro-batch 1 and
	// gradient accumulation gives, which is what the CrossIn reference ran).
	LossReduction string `json:"loss_reduction,omitempty"`
	// InitAdapter, when set, is a PEFT adapter directory whose weights
	// replace the trainer's own seeded initialisation (parity tests start
	// two trainers from the same adapter).
	InitAdapter string `json:"init_adapter,omitempty"`
	// GradientCheckpointing trades compute for memory (the reference
	// script turned it on); it must not change results beyond rounding.
	GradientCheckpointing bool `json:"gradient_checkpointing,omitempty"`
}

// EvalParams describe one benchmark evaluation.
type EvalParams struct {
	Benchmark      string   `json:"benchmark"` // cross_mmlu, cross_logiqa, cross_xquad
	Languages      []string `json:"languages"` // SeaEval names: English, Chinese, ...
	PromptTemplate int      `json:"prompt_template"`
	Prompt         string   `json:"prompt,omitempty"` // "seaeval" (default) or "crossin"
	// Raw feeds the benchmark prompt to the model as is; false renders it
	// as the instruction of the model's prompt template first.
	Raw          bool   `json:"raw,omitempty"`
	Mode         string `json:"mode"` // generate or loglik
	MaxNewTokens int    `json:"max_new_tokens,omitempty"`
	LengthNorm   bool   `json:"length_norm,omitempty"`
	Limit        int    `json:"limit,omitempty"` // evaluate only the first N questions (0 = all)
	BatchSize    int    `json:"batch_size,omitempty"`
	// EOSTokenIDs end a generation (the runner takes them from the
	// model's generation_config.json or config.json); PadTokenID pads
	// batched prompts. A trainer never emits a stop token in its output.
	EOSTokenIDs []int `json:"eos_token_ids,omitempty"`
	PadTokenID  int   `json:"pad_token_id,omitempty"`
}

// LossCurve is loss.json.
type LossCurve struct {
	Steps []LossPoint `json:"steps"`
}

// LossPoint is one optimiser step.
type LossPoint struct {
	Step         int     `json:"step"`
	Loss         float64 `json:"loss"`
	LearningRate float64 `json:"lr"`
	GradNorm     float64 `json:"grad_norm,omitempty"`
	Tokens       int     `json:"tokens"`
}

// Manifest is manifest.json, written last.
type Manifest struct {
	Contract string            `json:"contract"`
	Kind     string            `json:"kind"`
	Trainer  string            `json:"trainer"`           // e.g. "crossin-embedded devel"
	Files    map[string]string `json:"files"`             // path relative to OutputDir -> "sha256:<hex>"
	Summary  map[string]any    `json:"summary,omitempty"` // e.g. final_loss, steps, tokens
}

// Validate checks a JobSpec for the fields every trainer relies on.
func (j *JobSpec) Validate() error {
	if j.Contract != Contract {
		return fmt.Errorf("job spec: contract %q, want %q", j.Contract, Contract)
	}
	switch j.Kind {
	case KindTrain:
		if j.Train == nil {
			return fmt.Errorf("job spec: kind train needs \"train\" parameters")
		}
	case KindEval:
		if j.Eval == nil {
			return fmt.Errorf("job spec: kind eval needs \"eval\" parameters")
		}
	default:
		return fmt.Errorf("job spec: kind %q, want %q or %q", j.Kind, KindTrain, KindEval)
	}
	if j.Model.Dir == "" {
		return fmt.Errorf("job spec: model.dir is empty")
	}
	if len(j.Data) == 0 {
		return fmt.Errorf("job spec: no data files")
	}
	if j.OutputDir == "" {
		return fmt.Errorf("job spec: output_dir is empty")
	}
	return nil
}

// ReadJobSpec decodes and validates a job spec file.
func ReadJobSpec(path string) (*JobSpec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return DecodeJobSpec(f, path)
}

// DecodeJobSpec decodes and validates a job spec; name is used in errors.
func DecodeJobSpec(r io.Reader, name string) (*JobSpec, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var j JobSpec
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := j.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &j, nil
}

// Progress receives a trainer's progress. Done and Total count the job's
// natural unit (optimiser steps for train, questions for eval).
type Progress interface {
	Update(done, total int, msg string)
}

// ThreadLender is implemented by a Progress whose stage may be lent CPU
// threads while it runs: the runner lends a running stage the CPUs other
// stages left idle (and takes them back when a waiting stage needs them).
// An in-process trainer asks between units of work and uses that many
// threads from then on; threads never change results. A trainer in
// another process keeps to its job's Threads.
type ThreadLender interface {
	ThreadsNow() int
}

// Trainer runs jobs. The embedded engine implements it in-process; the
// container and Slurm backends implement it by running `crossin trainer run`
// (or any conforming trainer image) elsewhere.
type Trainer interface {
	// Run executes job and returns its manifest. It must be idempotent over
	// an interrupted OutputDir: a train job resumes from checkpoints/.
	Run(ctx context.Context, job *JobSpec, progress Progress) (*Manifest, error)
}
