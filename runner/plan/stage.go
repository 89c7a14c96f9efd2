package plan

import (
	"github.com/crossin-lab/crossin/schema"
	"github.com/crossin-lab/crossin/trainer"
)

// Stage is one node of the plan. Exactly one of the typed parameter
// fields (Model, Data, Train, Eval, Score, Report) is set, by Kind.
type Stage struct {
	ID   string   `json:"id"`
	Kind Kind     `json:"kind"`
	Deps []string `json:"deps,omitempty"` // stage IDs this one needs
	// Inputs name the dependencies whose outputs enter the key.
	Inputs []Input     `json:"inputs,omitempty"`
	Cells  []string    `json:"cells,omitempty"` // "EXPERIMENT/CELL" that use this stage
	Key    Description `json:"key"`
	// ActionID is Key's hash, with upstream outputs as known when it was
	// computed (see Pending).
	ActionID string `json:"action_id"`
	Status   Status `json:"status,omitempty"`
	OutputID string `json:"output_id,omitempty"` // when cached
	// Pending is true while an upstream output is unknown: the ActionID is
	// provisional and the executor must Rekey after the inputs are built.
	Pending bool `json:"pending,omitempty"`
	// Unresolved lists why the key is not final (tags, branches). Such a
	// stage is never looked up in the cache.
	Unresolved []string `json:"unresolved,omitempty"`

	Backend *schema.Backend `json:"backend,omitempty"` // train, eval
	// ImageDigest is the backend image's digest, when resolved.
	ImageDigest string `json:"image_digest,omitempty"`

	Model  *ModelParams  `json:"model,omitempty"`
	Data   *DataParams   `json:"data,omitempty"`
	Train  *TrainParams  `json:"train,omitempty"`
	Eval   *EvalParams   `json:"eval,omitempty"`
	Score  *ScoreParams  `json:"score,omitempty"`
	Report *ReportParams `json:"report,omitempty"`

	static []Component // components that do not depend on upstream outputs
}

// Input is an upstream stage whose output enters the key under Name
// (the component is called InputPrefix+Name).
type Input struct {
	Name  string `json:"name"` // model, data, adapter, predictions, or "CELL|BENCHMARK" for reports
	Stage string `json:"stage"`
}

// ModelParams: materialise a base model.
type ModelParams struct {
	Model *schema.Model `json:"model"`
	// Commit is the resolved hub commit (hub models), or "" when unresolved.
	Commit string `json:"commit,omitempty"`
}

// DataParams: build a mixture's training data.
type DataParams struct {
	Mixture *schema.Mixture      `json:"mixture"`
	Sources []*schema.DataSource `json:"sources"` // the sources the mixture uses, by name
	// Commits maps a hub data source name to its resolved commit.
	Commits map[string]string `json:"commits,omitempty"`
}

// TrainParams: fine-tune Model on the data with LoRA.
type TrainParams struct {
	Experiment string              `json:"experiment"`
	Cell       string              `json:"cell"`
	Model      *schema.Model       `json:"model"`
	Mixture    *schema.Mixture     `json:"mixture"`
	Seed       int64               `json:"seed"`
	Train      trainer.TrainParams `json:"train"`
}

// EvalParams: run one benchmark on a model, with the adapter of the
// Train dependency when Tuned.
type EvalParams struct {
	Model     *schema.Model      `json:"model"`
	Mixture   string             `json:"mixture"`
	Seed      int64              `json:"seed"`
	Tuned     bool               `json:"tuned"`
	Benchmark *schema.Benchmark  `json:"benchmark"`
	Eval      trainer.EvalParams `json:"eval"`
	// Commit is the resolved commit of a hub benchmark.
	Commit string `json:"commit,omitempty"`
}

// ScoreParams: compute SeaEval metrics from one eval's predictions.
type ScoreParams struct {
	Benchmark    *schema.Benchmark `json:"benchmark"`
	Languages    []string          `json:"languages"`
	ConsistencyK int               `json:"consistency_k"`
}

// ReportParams: gather an experiment's scores into tables.
type ReportParams struct {
	Experiment *schema.Experiment `json:"experiment"`
	Rows       []ReportRow        `json:"rows"`
}

// ReportRow is one (cell, benchmark) score a report reads.
type ReportRow struct {
	Cell      string   `json:"cell"`
	Model     string   `json:"model"`
	Mixture   string   `json:"mixture"`
	Variants  []string `json:"variants,omitempty"`
	Volume    string   `json:"volume,omitempty"`
	Seed      int64    `json:"seed"`
	Benchmark string   `json:"benchmark"`
	Score     string   `json:"score"` // stage ID
}
