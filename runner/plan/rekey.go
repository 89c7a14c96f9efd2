package plan

import (
	"sort"
)

// order sorts the stages so that every stage follows its dependencies:
// stage kinds only depend on earlier kinds, so sorting by kind then ID is
// a topological order that does not depend on how the spec was written.
func (p *Plan) order() {
	sort.SliceStable(p.Stages, func(i, j int) bool {
		a, b := p.Stages[i], p.Stages[j]
		if ra, rb := a.Kind.rank(), b.Kind.rank(); ra != rb {
			return ra < rb
		}
		return a.ID < b.ID
	})
}

// Rekey recomputes every stage's key and status in dependency order.
// outputs, when not nil, reports the OutputIDs of stages the executor has
// built in this run; otherwise (and for stages it does not know) the
// plan's Cache is asked. The executor calls it after each stage finishes,
// or RekeyStage for one stage.
func (p *Plan) Rekey(outputs func(stageID string) (string, bool)) {
	for _, s := range p.Stages {
		p.RekeyStage(s, outputs)
	}
}

// RekeyStage recomputes one stage's key from its dependencies' current
// state. Dependencies must have been rekeyed first.
func (p *Plan) RekeyStage(s *Stage, outputs func(stageID string) (string, bool)) {
	d := Description{Version: KeyVersion, Kind: s.Kind}
	d.Components = append(d.Components, s.static...)
	s.Pending = false
	for _, in := range s.Inputs {
		dep := p.index[in.Stage]
		var iv InputValue
		if out, ok := p.outputOf(dep, outputs); ok {
			iv.Output = out
		} else {
			iv.Pending = dep.ActionID
			s.Pending = true
		}
		d.Components = append(d.Components, Component{Name: InputPrefix + in.Name, Value: value(iv)})
	}
	s.Key = d
	s.ActionID = d.ActionID()
	s.OutputID, s.Status = "", StatusUnknown
	switch {
	case len(s.Unresolved) > 0 || p.depUnresolved(s):
		if p.cfg.cache != nil {
			s.Status = StatusUnresolved
		}
	case p.cfg.cache != nil:
		s.Status = StatusStale
		if !s.Pending {
			if out, ok := p.cfg.cache.Lookup(s.ActionID); ok {
				s.Status, s.OutputID = StatusCached, out
			}
		}
	}
}

// OutputsFromMap adapts a map of stage ID -> OutputID for Rekey.
func OutputsFromMap(m map[string]string) func(string) (string, bool) {
	return func(id string) (string, bool) {
		out, ok := m[id]
		return out, ok
	}
}

func (p *Plan) depUnresolved(s *Stage) bool {
	for _, d := range s.Deps {
		dep := p.index[d]
		if len(dep.Unresolved) > 0 || dep.Status == StatusUnresolved {
			return true
		}
	}
	return false
}

func (p *Plan) outputOf(dep *Stage, outputs func(string) (string, bool)) (string, bool) {
	if outputs != nil {
		if out, ok := outputs(dep.ID); ok {
			return out, true
		}
	}
	if dep.OutputID != "" {
		return dep.OutputID, true
	}
	return "", false
}
