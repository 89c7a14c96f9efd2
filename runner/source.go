package runner

import (
	"encoding/json"

	"github.com/crossin-lab/crossin/resultset"
	"github.com/crossin-lab/crossin/runner/plan"
	"github.com/crossin-lab/crossin/schema"
)

// ReportCodeVersion enters the report stage's key: version 2 writes the
// layout into results.json.
const ReportCodeVersion = "crossin/report/v2"

// RowSource records the stages behind the score stage scoreID (model,
// data, train, eval, score, as far as the cell has them) with their keys
// and outputs as the plan has them now, and the pinned inputs of those
// keys. References are marked unpinned when the spec names them by tag or
// branch; WithPins (see Pinned) can vouch for ones a lock file pins.
func RowSource(p *plan.Plan, scoreID string) *resultset.Source {
	src := &resultset.Source{Stages: []resultset.Stage{}}
	sc := p.Stage(scoreID)
	if sc == nil {
		return src
	}
	input := func(s *plan.Stage, name string) *plan.Stage {
		if s == nil {
			return nil
		}
		for _, in := range s.Inputs {
			if in.Name == name {
				return p.Stage(in.Stage)
			}
		}
		return nil
	}
	ev := input(sc, "predictions")
	tr := input(ev, "adapter")
	model := input(ev, "model")
	data := input(tr, "data")
	for _, s := range []*plan.Stage{model, data, tr, ev, sc} {
		if s == nil {
			continue
		}
		src.Stages = append(src.Stages, resultset.Stage{Kind: string(s.Kind), ID: s.ID, Action: s.ActionID, Output: s.OutputID})
	}
	var unpinned []string
	if model != nil && model.Model != nil {
		src.ModelCommit = model.Model.Commit
		if h := model.Model.Model.Hub; h != nil && !isCommit(h.Revision) {
			unpinned = append(unpinned, "model "+h.Repo+"@"+h.Revision)
		}
	}
	if data != nil && data.Data != nil {
		if len(data.Data.Commits) > 0 {
			src.DataCommits = data.Data.Commits
		}
		for _, d := range data.Data.Sources {
			if d.Hub != nil && !isCommit(d.Hub.Revision) {
				unpinned = append(unpinned, "dataset "+d.Hub.Repo+"@"+d.Hub.Revision)
			}
		}
	}
	if ev != nil {
		if ev.Eval != nil {
			src.BenchmarkCommit = ev.Eval.Commit
			if b := ev.Eval.Benchmark; b != nil && b.Hub != nil && !isCommit(b.Hub.Revision) {
				unpinned = append(unpinned, "dataset "+b.Hub.Repo+"@"+b.Hub.Revision)
			}
		}
		src.Backend = schema.BackendEmbedded
		if ev.Backend != nil {
			src.Backend = ev.Backend.Kind
			if ev.Backend.Kind != schema.BackendEmbedded && !isDigestRef(ev.Backend.Image) {
				unpinned = append(unpinned, "image "+ev.Backend.Image)
			}
		}
		src.ImageDigest = ev.ImageDigest
		if v, ok := ev.Key.Get("code"); ok {
			var code string
			if json.Unmarshal(v, &code) == nil {
				src.Engine = code
			}
		}
		// The embedded engine's arithmetic path (plan.WithArithmetic).
		if v, ok := ev.Key.Get("backend"); ok {
			var be struct {
				Arithmetic string `json:"arithmetic"`
			}
			if json.Unmarshal(v, &be) == nil && be.Arithmetic != "" {
				src.Engine += " " + be.Arithmetic
			}
		}
	}
	src.Unpinned = dedup(unpinned)
	return src
}

// Pins says whether a reference the spec names by tag or branch ("model
// REPO@REV", "dataset REPO@REV", "image REF") is pinned elsewhere (a lock
// file), so that it does not make a row unpinned.
type Pins func(ref string) bool

// ApplyPins drops the references pins vouches for from every row's
// Unpinned list.
func ApplyPins(set *resultset.Set, pins Pins) {
	if pins == nil {
		return
	}
	for i := range set.Rows {
		src := set.Rows[i].Source
		if src == nil {
			continue
		}
		var keep []string
		for _, u := range src.Unpinned {
			if !pins(u) {
				keep = append(keep, u)
			}
		}
		src.Unpinned = keep
	}
}

func isCommit(rev string) bool {
	if len(rev) != 40 {
		return false
	}
	for _, c := range rev {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// isDigestRef reports whether an image reference is pinned by digest.
func isDigestRef(ref string) bool {
	for i := len(ref) - 1; i >= 0; i-- {
		if ref[i] == '@' {
			return len(ref) > i+8 && ref[i+1:i+8] == "sha256:"
		}
	}
	return false
}

func dedup(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
