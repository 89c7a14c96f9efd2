package plan

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/crossin-lab/crossin/schema"
)

// Build expands spec into a plan.
func Build(spec *schema.Spec, opts ...Option) (*Plan, error) {
	cf := &config{ctx: context.Background(), hashFile: HashFile, code: map[Kind]string{}, resolveBudget: 15 * time.Second}
	for _, o := range opts {
		o(cf)
	}
	b := &builder{cfg: cf, spec: spec, p: &Plan{Spec: spec, index: map[string]*Stage{}, cfg: cf}}
	defer func() {
		if b.cancel != nil {
			b.cancel()
		}
	}()
	exps := spec.Experiments
	if len(cf.experiments) > 0 {
		exps = nil
		for _, n := range cf.experiments {
			e := spec.Experiment(n)
			if e == nil {
				var all []string
				for _, e := range spec.Experiments {
					all = append(all, e.Name)
				}
				return nil, &UnknownExperimentError{Name: n, Have: all}
			}
			exps = append(exps, e)
		}
	}
	for _, e := range exps {
		if err := b.experiment(e); err != nil {
			return nil, err
		}
	}
	b.p.Smoke = cf.smoke
	b.p.order()
	b.p.Rekey(nil)
	return b.p, nil
}

type builder struct {
	cfg  *config
	spec *schema.Spec
	p    *Plan
	// memo of resolved content per data source / benchmark / model
	content  map[string]any
	resolved map[string]resolution // hub revisions and images
	// rctx carries the resolution budget; made at the first resolver call.
	rctx   context.Context
	cancel context.CancelFunc
}

// resolveCtx returns the context for resolver calls, or nil when the
// budget is spent.
func (b *builder) resolveCtx() context.Context {
	if b.rctx == nil {
		b.rctx, b.cancel = context.WithTimeout(b.cfg.ctx, b.cfg.resolveBudget)
	}
	if b.rctx.Err() != nil {
		return nil
	}
	return b.rctx
}

func (b *builder) code(k Kind) string {
	if v := b.cfg.code[k]; v != "" {
		return v
	}
	return "crossin/" + string(k) + "/v1"
}

// add inserts s, or merges it with an identical stage of the same ID. A
// different stage under an ID already taken (two experiments defining the
// same cell differently) is renamed ID@EXPERIMENT.
func (b *builder) add(s *Stage, experiment string) *Stage {
	s.static = append([]Component{
		{Name: "schema", Value: value(schema.Version)},
		{Name: "code", Value: value(b.code(s.Kind))},
	}, s.static...)
	if b.cfg.smoke != nil {
		s.static = append(s.static, Component{Name: "smoke", Value: value(b.cfg.smoke)})
	}
	if old := b.p.index[s.ID]; old != nil {
		if sameStatic(old, s) {
			old.Cells = mergeSorted(old.Cells, s.Cells)
			return old
		}
		s.ID = s.ID + "@" + experiment
		if old := b.p.index[s.ID]; old != nil && sameStatic(old, s) {
			old.Cells = mergeSorted(old.Cells, s.Cells)
			return old
		}
	}
	b.p.index[s.ID] = s
	b.p.Stages = append(b.p.Stages, s)
	return s
}

func sameStatic(a, b *Stage) bool {
	if len(a.static) != len(b.static) || len(a.Inputs) != len(b.Inputs) {
		return false
	}
	for i := range a.static {
		if a.static[i].Name != b.static[i].Name || string(a.static[i].Value) != string(b.static[i].Value) {
			return false
		}
	}
	for i := range a.Inputs {
		if a.Inputs[i] != b.Inputs[i] {
			return false
		}
	}
	return true
}

func mergeSorted(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range append(append([]string(nil), a...), b...) {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

// cellEnv is what the stage builders of one cell share: the experiment,
// the cell and its resolved model, mixture and backend.
type cellEnv struct {
	exp     *schema.Experiment
	cell    *schema.Cell
	name    string // "EXPERIMENT/CELL"
	model   *schema.Model
	mix     *schema.Mixture
	backend *schema.Backend
	beComp  json.RawMessage // the backend's key component
	digest  string          // the backend image's digest, when resolved
	beUnres []string        // why the backend is unresolved
}

func (b *builder) experiment(e *schema.Experiment) error {
	ep := &ExperimentPlan{Name: e.Name, Backend: e.Backend}
	backend := b.spec.Backend(e.Backend)
	if backend == nil {
		return fmt.Errorf("experiment %s: unknown backend %q", e.Name, e.Backend)
	}
	backendComp, digest, unresolved := b.backend(backend)
	var rows []ReportRow
	var reportInputs []Input
	for _, c := range e.Cells {
		cellName := e.Name + "/" + c.ID
		model := b.spec.Model(c.Model)
		mix := b.spec.Mixture(c.Mixture)
		if model == nil || mix == nil {
			return fmt.Errorf("cell %s: unknown model %q or mixture %q", cellName, c.Model, c.Mixture)
		}
		env := &cellEnv{exp: e, cell: c, name: cellName, model: model, mix: mix,
			backend: backend, beComp: backendComp, digest: digest, beUnres: unresolved}
		cp := &CellPlan{ID: c.ID, Model: c.Model, Mixture: c.Mixture, Seed: c.Seed, Cell: c}
		ms, err := b.modelStage(model, cellName)
		if err != nil {
			return err
		}
		cp.Stages.Model = ms.ID
		var train *Stage
		if !mix.Empty() {
			ds, err := b.dataStage(mix, cellName)
			if err != nil {
				return err
			}
			cp.Stages.Data = ds.ID
			train = b.trainStage(env, ms, ds)
			cp.Stages.Train = train.ID
		}
		for _, bn := range e.Benchmarks {
			bench := b.spec.Benchmark(bn)
			if bench == nil {
				return fmt.Errorf("experiment %s: unknown benchmark %q", e.Name, bn)
			}
			content, commit, bunres, err := b.benchContent(bench)
			if err != nil {
				return err
			}
			ev := b.evalStage(env, ms, train, bench, content, commit, bunres)
			sc := b.scoreStage(env, ev, bench, content, bunres)
			cp.Stages.Evals = append(cp.Stages.Evals, BenchStage{Benchmark: bn, Eval: ev.ID, Score: sc.ID})
			row := ReportRow{Cell: c.ID, Model: c.Model, Mixture: c.Mixture, Variants: mix.VariantNames(), Seed: c.Seed, Benchmark: bn, Score: sc.ID}
			row.Volume = mixtureVolume(mix)
			rows = append(rows, row)
			reportInputs = append(reportInputs, Input{Name: c.ID + "|" + bn, Stage: sc.ID})
		}
		ep.Cells = append(ep.Cells, cp)
	}
	rep := b.reportStage(e, rows, reportInputs)
	ep.Report = rep.ID
	b.p.Experiments = append(b.p.Experiments, ep)
	return nil
}

// mixtureVolume is the CrossIn volume of a mixture for tables: the
// variants' common volume, "" for Base only, or "mixed".
func mixtureVolume(m *schema.Mixture) string {
	v := ""
	for i, p := range m.Variants {
		if i == 0 {
			v = p.Volume.String()
		} else if p.Volume.String() != v {
			return "mixed"
		}
	}
	return v
}

// UnknownExperimentError is returned by Build for an experiment asked for
// (WithExperiments, -e) that the spec does not declare; the CLI treats it
// as a usage error.
type UnknownExperimentError struct {
	Name string
	Have []string // the spec's experiments
}

func (e *UnknownExperimentError) Error() string {
	return fmt.Sprintf("no experiment %q in the spec (it has %s)", e.Name, strings.Join(e.Have, ", "))
}
