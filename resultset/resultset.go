// Package resultset holds the scored outcome of an experiment grid: one row
// per (cell, benchmark). The runner writes it; reports read it.
package resultset

import "github.com/crossin-lab/crossin/metrics"

// Row statuses. A row that is not StatusOK has no Score and is rendered as
// missing or failed, never as zero.
const (
	StatusOK      = "ok"
	StatusMissing = "missing" // not run yet
	StatusFailed  = "failed"
)

// Set is results.json.
type Set struct {
	Experiment string `json:"experiment"`
	Rows       []Row  `json:"rows"`
}

// Row is one cell evaluated on one benchmark.
type Row struct {
	Cell      string            `json:"cell"`      // stable cell ID from the plan
	Model     string            `json:"model"`     // model name from the spec
	Mixture   string            `json:"mixture"`   // mixture (variant) name, e.g. "base", "x2x"
	Variants  []string          `json:"variants"`  // CrossIn variants in the mixture
	Volume    string            `json:"volume"`    // CrossIn volume: "3000", "all", "" for base only
	Seed      int64             `json:"seed"`      // training seed
	Benchmark string            `json:"benchmark"` // cross_mmlu, cross_logiqa, cross_xquad
	Labels    map[string]string `json:"labels,omitempty"`
	Status    string            `json:"status"`
	Error     string            `json:"error,omitempty"`
	Score     *metrics.Result   `json:"score,omitempty"`
}
