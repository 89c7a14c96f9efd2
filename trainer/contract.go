// Package trainer defines version 1 of the trainer contract: the interface
// between crossin's runner and any program that trains or evaluates a
// model (the embedded Go engine, a PyTorch container, a Slurm job).
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

// ContractV1 names this version of the contract in job specs and manifests.
const ContractV1 = "crossin.trainer/v1"

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
	PredictionsFile = "predictions.jsonl" // crossin score format, with per-option log-likelihoods
	CheckpointDir   = "checkpoints"       // trainer-private; used to resume, not an output
	LogFile         = "trainer.log"       // human-readable log, not hashed into results
)

// JobSpec is the single input of a trainer. Paths are absolute on the
// machine (or inside the container) that runs the trainer.
type JobSpec struct {
	Contract  string       `json:"contract"` // ContractV1
	Kind      string       `json:"kind"`     // KindTrain or KindEval
	Model     ModelRef     `json:"model"`
	Adapter   string       `json:"adapter,omitempty"` // eval: adapter directory to apply; empty = base model
	Data      []string     `json:"data"`              // train: mixture JSONL files; eval: benchmark JSONL file(s)
	Train     *TrainParams `json:"train,omitempty"`
	Eval      *EvalParams  `json:"eval,omitempty"`
	Seed      int64        `json:"seed"`
	OutputDir string       `json:"output_dir"`
	// Threads bounds the CPU threads a trainer may use (0 = all); the
	// embedded trainer bounds each of the engine's loops and products to it
	// (tensor.Threads), so stages sharing a process keep to their share.
	// It never changes results: trainers must be deterministic across it.
	Threads int `json:"threads,omitempty"`
}

// ModelRef points to a Hugging Face format model directory.
type ModelRef struct {
	Dir      string `json:"dir"`                // local directory with config.json, *.safetensors, tokenizer.json
	Repo     string `json:"repo,omitempty"`     // informational: hub repo id it came from
	Revision string `json:"revision,omitempty"` // informational: pinned revision
	Family   string `json:"family,omitempty"`   // llama, mistral, qwen2, gemma
	Template string `json:"template,omitempty"` // prompt template name: alpaca, llama, gemma
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
	// LossReduction averages a step's cross-entropy over its response
	// tokens ("token", also when empty) or over its samples, each the mean
	// over its own response tokens ("sample": the CrossIn reference).
	LossReduction string `json:"loss_reduction,omitempty"`
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
	if j.Contract != ContractV1 {
		return fmt.Errorf("job spec: contract %q, want %q", j.Contract, ContractV1)
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

// Trainer runs jobs. The embedded engine implements it in-process; the
// container and Slurm backends implement it by running `crossin trainer run`
// (or any conforming trainer image) elsewhere.
type Trainer interface {
	// Run executes job and returns its manifest. It must be idempotent over
	// an interrupted OutputDir: a train job resumes from checkpoints/.
	Run(ctx context.Context, job *JobSpec, progress Progress) (*Manifest, error)
}
