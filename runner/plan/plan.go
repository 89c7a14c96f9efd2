// Package plan expands a crossin spec into a DAG of stages (model, data,
// train, eval, score, report) and gives every stage an action key: the
// SHA-256 of a canonical, versioned description of everything that
// determines its output. Inputs count by content (local files are hashed,
// hub references are pinned revisions, images are digests), never by path,
// mtime or tag, so a key changes exactly when a stage must re-run.
//
// Upstream outputs enter a stage's key as OutputIDs when a Cache knows
// them; otherwise as the upstream ActionID marked pending. The executor
// calls Rekey after a stage's dependencies finish, so a dependency that
// re-ran but produced identical output does not invalidate what follows
// (early cutoff, as in Go's build cache).
package plan

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/crossin-lab/crossin/schema"
)

// Status is what a Cache says about a stage.
type Status string

// Statuses. StatusUnknown means no cache was consulted.
const (
	StatusUnknown    Status = ""
	StatusCached     Status = "cached"     // the key is final and its output is in the cache
	StatusStale      Status = "stale"      // must run (not cached, or an input is still pending)
	StatusUnresolved Status = "unresolved" // the key is not final: an image tag or branch is not pinned
)

// Plan is the DAG of an expanded spec.
type Plan struct {
	Spec        *schema.Spec      `json:"-"`
	Experiments []*ExperimentPlan `json:"experiments"`
	// Stages in dependency order (every stage after its deps; ties by kind
	// and ID), each once however many cells share it.
	Stages []*Stage `json:"stages"`
	// Smoke is the smoke run's description when the plan is one (WithSmoke).
	Smoke json.RawMessage `json:"smoke,omitempty"`

	index map[string]*Stage
	cfg   *config
}

// ExperimentPlan lists an experiment's cells and its report stage.
type ExperimentPlan struct {
	Name    string      `json:"name"`
	Backend string      `json:"backend"`
	Cells   []*CellPlan `json:"cells"`
	Report  string      `json:"report"`
}

// CellPlan names the stages of one cell ("" where a cell has none: an
// empty mixture has no data or train stage).
type CellPlan struct {
	ID      string       `json:"id"`
	Model   string       `json:"model"`
	Mixture string       `json:"mixture"`
	Seed    int64        `json:"seed"`
	Stages  CellStages   `json:"stages"`
	Cell    *schema.Cell `json:"-"`
}

// CellStages are the stage IDs of a cell.
type CellStages struct {
	Model string       `json:"model"`
	Data  string       `json:"data,omitempty"`
	Train string       `json:"train,omitempty"`
	Evals []BenchStage `json:"evals"`
}

// BenchStage is a cell's eval and score stage for one benchmark.
type BenchStage struct {
	Benchmark string `json:"benchmark"`
	Eval      string `json:"eval"`
	Score     string `json:"score"`
}

// Stage returns the stage with the given ID, or nil.
func (p *Plan) Stage(id string) *Stage { return p.index[id] }

// Cell finds a cell by "EXPERIMENT/CELL" or, when unambiguous, by its
// cell ID alone.
func (p *Plan) Cell(name string) (*ExperimentPlan, *CellPlan, error) {
	var hits []struct {
		e *ExperimentPlan
		c *CellPlan
	}
	for _, e := range p.Experiments {
		for _, c := range e.Cells {
			if c.ID == name || e.Name+"/"+c.ID == name {
				hits = append(hits, struct {
					e *ExperimentPlan
					c *CellPlan
				}{e, c})
			}
		}
	}
	switch len(hits) {
	case 0:
		return nil, nil, fmt.Errorf("no cell or stage %q in the plan", name)
	case 1:
		return hits[0].e, hits[0].c, nil
	}
	var names []string
	for _, h := range hits {
		names = append(names, h.e.Name+"/"+h.c.ID)
	}
	return nil, nil, fmt.Errorf("cell %q is in several experiments; name one of %s", name, strings.Join(names, ", "))
}

// CellStageIDs lists a cell's stages in pipeline order.
func (c *CellPlan) CellStageIDs() []string {
	var out []string
	out = append(out, c.Stages.Model)
	if c.Stages.Data != "" {
		out = append(out, c.Stages.Data)
	}
	if c.Stages.Train != "" {
		out = append(out, c.Stages.Train)
	}
	for _, b := range c.Stages.Evals {
		out = append(out, b.Eval, b.Score)
	}
	return out
}
