package schema

import (
	"encoding/json"
	"fmt"
	"sort"

	"cuelang.org/go/cue"
	"github.com/crossin-lab/crossin/trainer"
)

func (l *loader) trainingDefaults() (trainer.TrainParams, bool) {
	var t trainer.TrainParams
	v := l.root.LookupPath(cue.ParsePath("#Training"))
	if err := v.Decode(&t); err != nil {
		l.is.add(Pos{Filename: SchemaFile}, "#Training", "decoding defaults: %v", err)
		return t, false
	}
	return t, true
}

// overlay applies a #TrainingPatch value to t: fields the patch sets
// replace t's, nested structs merge field by field, lists are replaced.
func (l *loader) overlay(t trainer.TrainParams, patch cue.Value) trainer.TrainParams {
	t.LoRA.TargetModules = append([]string(nil), t.LoRA.TargetModules...)
	t.LoRA.ModulesToSave = append([]string(nil), t.LoRA.ModulesToSave...)
	if !patch.Exists() {
		return t
	}
	b, err := patch.MarshalJSON()
	if err != nil {
		l.is.add(l.pos(patch), pathOf(patch), "%v", err)
		return t
	}
	// Lists replace rather than extend: clear the ones the patch sets.
	var probe struct {
		LoRA struct {
			TargetModules json.RawMessage `json:"target_modules"`
			ModulesToSave json.RawMessage `json:"modules_to_save"`
		} `json:"lora"`
	}
	_ = json.Unmarshal(b, &probe)
	if probe.LoRA.TargetModules != nil {
		t.LoRA.TargetModules = nil
	}
	if probe.LoRA.ModulesToSave != nil {
		t.LoRA.ModulesToSave = nil
	}
	if err := json.Unmarshal(b, &t); err != nil {
		l.is.add(l.pos(patch), pathOf(patch), "%v", err)
	}
	return t
}

// gridOrder sorts an experiment's cells in grid order (models, then
// mixtures, then seeds, as listed), followed by the cells the spec adds
// outside the grid in CUE's (deterministic) field order. CUE orders fields
// by first mention, so a cell the spec overrides would otherwise jump
// ahead of the grid.
func (l *loader) gridOrder(v cue.Value, e *Experiment) {
	var models, mixtures []string
	var seeds []int64
	_ = v.LookupPath(cue.ParsePath("models")).Decode(&models)
	_ = v.LookupPath(cue.ParsePath("mixtures")).Decode(&mixtures)
	_ = v.LookupPath(cue.ParsePath("seeds")).Decode(&seeds)
	rank := map[string]int{}
	n := 0
	for _, m := range models {
		for _, x := range mixtures {
			for _, s := range seeds {
				id := fmt.Sprintf("%s/%s/s%d", m, x, s)
				if _, ok := rank[id]; !ok {
					rank[id] = n
					n++
				}
			}
		}
	}
	pos := func(c *Cell) int {
		if r, ok := rank[c.ID]; ok {
			return r
		}
		return n
	}
	sort.SliceStable(e.Cells, func(i, j int) bool { return pos(e.Cells[i]) < pos(e.Cells[j]) })
}

func (l *loader) experiment(v cue.Value, s *Spec, defaults trainer.TrainParams) *Experiment {
	var raw struct {
		Description string          `json:"description"`
		Backend     string          `json:"backend"`
		Benchmarks  []string        `json:"benchmarks"`
		Report      json.RawMessage `json:"report"`
		Remote      string          `json:"remote"`
	}
	if !l.decodeInto(v, &raw) {
		return nil
	}
	e := &Experiment{Name: label(v), Description: raw.Description, Backend: raw.Backend, Benchmarks: raw.Benchmarks,
		Report: raw.Report, Remote: raw.Remote, Pos: l.pos(v)}
	if bv := v.LookupPath(cue.ParsePath("backend")); s.Backend(raw.Backend) == nil {
		l.is.add(l.pos(bv), pathOf(bv), "unknown backend %q (declared: %s)", raw.Backend, names(s.Backends))
	}
	bl := v.LookupPath(cue.ParsePath("benchmarks"))
	if len(raw.Benchmarks) == 0 {
		l.is.add(l.pos(v), pathOf(bl), "no benchmarks to evaluate")
	}
	for i, b := range raw.Benchmarks {
		if s.Benchmark(b) == nil {
			l.is.add(l.pos(bl.LookupPath(cue.MakePath(cue.Index(i)))), pathOf(bl), "unknown benchmark %q (declared: %s)", b, names(s.Benchmarks))
		}
	}
	if dup := duplicate(raw.Benchmarks); dup != "" {
		l.is.add(l.pos(bl), pathOf(bl), "benchmark %q listed twice", dup)
	}
	// Check the grid lists element by element, so an unknown name is
	// reported where it is written rather than at every generated cell.
	badModel, badMixture := map[string]bool{}, map[string]bool{}
	for _, list := range []struct {
		field string
		known func(string) bool
		what  string
		all   string
		bad   map[string]bool
	}{
		{"models", func(n string) bool { return s.Model(n) != nil }, "model", names(s.Models), badModel},
		{"mixtures", func(n string) bool { return s.Mixture(n) != nil }, "mixture", names(s.Mixtures), badMixture},
	} {
		lv := v.LookupPath(cue.ParsePath(list.field))
		var got []string
		_ = lv.Decode(&got)
		for i, n := range got {
			if !list.known(n) {
				list.bad[n] = true
				l.is.add(l.pos(lv.LookupPath(cue.MakePath(cue.Index(i)))), pathOf(lv), "unknown %s %q (declared: %s)", list.what, n, list.all)
			}
		}
		if dup := duplicate(got); dup != "" {
			l.is.add(l.pos(lv), pathOf(lv), "%s %q listed twice", list.what, dup)
		}
	}
	// A seed listed twice would make the same cells twice: they collapse
	// into one, and the grid is silently smaller than written.
	sv := v.LookupPath(cue.ParsePath("seeds"))
	var seeds []int64
	_ = sv.Decode(&seeds)
	seen := map[int64]bool{}
	for i, sd := range seeds {
		if seen[sd] {
			ev := sv.LookupPath(cue.MakePath(cue.Index(i)))
			l.is.add(l.pos(ev), pathOf(ev), "seed %d is listed twice; each seed makes one cell per model and mixture, so remove the duplicate", sd)
		}
		seen[sd] = true
	}
	base := l.overlay(defaults, v.LookupPath(cue.ParsePath("training")))
	cells := v.LookupPath(cue.ParsePath("cells"))
	it, err := cells.Fields()
	if err != nil {
		l.is.add(l.pos(cells), pathOf(cells), "%v", err)
		return e
	}
	for it.Next() {
		cv := it.Value()
		var rc struct {
			Model   string            `json:"model"`
			Mixture string            `json:"mixture"`
			Seed    int64             `json:"seed"`
			Labels  map[string]string `json:"labels"`
		}
		if !l.decodeInto(cv, &rc) {
			continue
		}
		// A generated cell is written in the schema's comprehension;
		// its position is then the experiment's. (Asking CUE for every
		// conjunct's position is costly on a large grid.)
		cpos := e.Pos
		if p := cv.Pos(); isUserFile(p.Filename()) {
			cpos = toPos(p)
		}
		c := &Cell{ID: it.Selector().Unquoted(), Model: rc.Model, Mixture: rc.Mixture, Seed: rc.Seed, Labels: rc.Labels, Pos: cpos}
		if s.Model(c.Model) == nil && !badModel[c.Model] {
			mv := cv.LookupPath(cue.ParsePath("model"))
			l.is.add(l.pos(mv), pathOf(mv), "unknown model %q (declared: %s)", c.Model, names(s.Models))
		}
		if s.Mixture(c.Mixture) == nil && !badMixture[c.Mixture] {
			mv := cv.LookupPath(cue.ParsePath("mixture"))
			l.is.add(l.pos(mv), pathOf(mv), "unknown mixture %q (declared: %s)", c.Mixture, names(s.Mixtures))
		}
		c.Train = l.overlay(base, cv.LookupPath(cue.ParsePath("training")))
		e.Cells = append(e.Cells, c)
	}
	l.gridOrder(v, e)
	if len(e.Cells) == 0 {
		l.is.add(l.pos(v), pathOf(v), "experiment has no cells (give models and mixtures, or cells)")
	}
	return e
}
