package train

// The engine's own types: what a run is asked to do (Config), what it
// reports while running (Progress) and what it leaves (LossCurve). They are
// deliberately independent of the trainer contract (package trainer), which
// translates into them, so that the engine knows nothing of its callers.
// Their JSON matches the contract's train parameters and loss.json.

// Config holds the hyperparameters of a LoRA run.
type Config struct {
	LoRA            LoRAParams `json:"lora"`
	LearningRate    float64    `json:"learning_rate"`
	Epochs          float64    `json:"epochs"`
	MaxSteps        int        `json:"max_steps,omitempty"` // >0 overrides Epochs
	BatchSize       int        `json:"batch_size"`          // micro-batch
	GradAccum       int        `json:"grad_accum"`
	MaxLength       int        `json:"max_length"`
	Scheduler       string     `json:"scheduler"` // cosine, linear, constant
	WarmupRatio     float64    `json:"warmup_ratio"`
	WeightDecay     float64    `json:"weight_decay"`
	MaxGradNorm     float64    `json:"max_grad_norm"`
	CheckpointEvery int        `json:"checkpoint_every,omitempty"` // optimiser steps; 0 = CheckpointInterval's default
	// LossReduction is how the cross-entropy of an optimiser step is
	// averaged: LossToken ("" means the same) or LossSample.
	LossReduction string `json:"loss_reduction,omitempty"`
}

// Loss reductions.
const (
	// LossToken averages over all response tokens of the effective batch
	// (every micro-batch of the step): longer responses weigh more. It is
	// what transformers' Trainer computes since 4.46 (num_items_in_batch).
	LossToken = "token"
	// LossSample averages each sample's cross-entropy over its own
	// response tokens, then averages the samples of the effective batch:
	// every sample weighs the same. It is what the CrossIn reference ran
	// (micro-batch 1, gradient accumulation 16, transformers before 4.46,
	// whose Trainer divided each micro-batch's mean loss by the
	// accumulation steps). With micro-batches of several samples that
	// Trainer averaged tokens within a micro-batch; LossSample still weighs
	// every sample equally.
	LossSample = "sample"
)

// LoRAParams are the adapter's settings; zero values take PEFT's defaults
// (see LoRAConfig).
type LoRAParams struct {
	R             int      `json:"r"`
	Alpha         float64  `json:"alpha"`
	Dropout       float64  `json:"dropout"`
	TargetModules []string `json:"target_modules"`
	ModulesToSave []string `json:"modules_to_save,omitempty"`
}

// LossCurve is the per-step record of a run (loss.json).
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

// Progress receives one call per optimiser step.
type Progress interface {
	Update(done, total int, msg string)
}
