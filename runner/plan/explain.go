package plan

import (
	"fmt"
	"strings"
)

// Explanation says why a stage's key differs from its last record.
type Explanation struct {
	Stage    string   `json:"stage"`
	ActionID string   `json:"action_id"`
	Status   Status   `json:"status,omitempty"`
	Recorded bool     `json:"recorded"`          // false: no earlier record
	Changes  []Change `json:"changes,omitempty"` // empty with Recorded: unchanged
	// Because lists the upstream stages whose changed keys or outputs
	// changed this stage's input components.
	Because []string `json:"because,omitempty"`
}

// Unchanged reports whether the stage's key equals its record.
func (e Explanation) Unchanged() bool { return e.Recorded && len(e.Changes) == 0 }

// Explain compares the keys of target (a stage ID, or a cell as
// "EXPERIMENT/CELL" or a unique cell ID) and of everything it depends on
// with their records. Explanations come in dependency order and include
// only the target's stages and the changed upstream stages that explain
// them.
func Explain(p *Plan, rec *Records, target string) ([]Explanation, error) {
	var roots []string
	if s := p.Stage(target); s != nil {
		roots = []string{s.ID}
	} else {
		_, c, err := p.Cell(target)
		if err != nil {
			return nil, fmt.Errorf("%w (try `crossin plan` for the IDs)", err)
		}
		roots = c.CellStageIDs()
	}
	memo := map[string]*Explanation{}
	explain := func(id string) (*Explanation, error) {
		if e, ok := memo[id]; ok {
			return e, nil
		}
		s := p.Stage(id)
		e := &Explanation{Stage: id, ActionID: s.ActionID, Status: s.Status}
		memo[id] = e
		old, ok, err := rec.Load(id)
		if err != nil {
			return nil, err
		}
		e.Recorded = ok
		if !ok {
			return e, nil
		}
		e.Changes = Diff(old, s.Key)
		for _, c := range e.Changes {
			if !IsInput(c.Component) {
				continue
			}
			name := strings.TrimPrefix(c.Component, InputPrefix)
			for _, in := range s.Inputs {
				if in.Name == name {
					e.Because = append(e.Because, in.Stage)
				}
			}
		}
		return e, nil
	}
	// Walk the roots and, transitively, the upstream stages named in
	// Because, then emit in plan (dependency) order.
	want := map[string]bool{}
	var visit func(id string) error
	visit = func(id string) error {
		if want[id] {
			return nil
		}
		want[id] = true
		e, err := explain(id)
		if err != nil {
			return err
		}
		for _, up := range e.Because {
			if err := visit(up); err != nil {
				return err
			}
		}
		return nil
	}
	for _, r := range roots {
		if err := visit(r); err != nil {
			return nil, err
		}
	}
	var out []Explanation
	for _, s := range p.Stages {
		if want[s.ID] {
			out = append(out, *memo[s.ID])
		}
	}
	return out, nil
}
