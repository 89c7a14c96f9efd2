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
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/crossin-lab/crossin/schema"
	"github.com/crossin-lab/crossin/trainer"
)

// Kind is a stage kind.
type Kind string

// Stage kinds, in pipeline order.
const (
	KindModel  Kind = "model"  // fetch a hub model, hash a local one, or create a random one
	KindData   Kind = "data"   // build a mixture's training data
	KindTrain  Kind = "train"  // LoRA fine-tuning
	KindEval   Kind = "eval"   // benchmark inference
	KindScore  Kind = "score"  // metrics from predictions
	KindReport Kind = "report" // an experiment's tables
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

// Cache answers which action keys already have outputs. runner/cache
// implements it.
type Cache interface {
	Lookup(actionID string) (outputID string, ok bool)
}

// ImageResolver turns an image reference (tag) into its digest
// ("sha256:..."). The oci package provides one backed by crossin.lock.
type ImageResolver func(ctx context.Context, ref string) (digest string, err error)

// RevisionResolver turns a hub revision (branch or tag) of repo into a
// commit hash. kind is "model" or "dataset". The hub package provides one.
type RevisionResolver func(ctx context.Context, kind, repo, revision string) (commit string, err error)

type config struct {
	ctx         context.Context
	cache       Cache
	images      ImageResolver
	revisions   RevisionResolver
	hashFile    func(path string) (string, error)
	code        map[Kind]string
	experiments []string
	// resolveBudget bounds the time all resolver calls of one Build may
	// take together: resolvers may use the network, and an offline
	// machine must still get its plan (with the rest unresolved).
	resolveBudget time.Duration
	// smoke, when set, enters every stage's key (see WithSmoke).
	smoke json.RawMessage
}

// Option configures Build.
type Option func(*config)

// WithCache lets the plan mark stages cached or stale and use known
// upstream outputs in keys.
func WithCache(c Cache) Option { return func(cf *config) { cf.cache = c } }

// WithImageResolver sets how image tags become digests. Without one, only
// digest-pinned references ("name@sha256:...") give final keys.
func WithImageResolver(r ImageResolver) Option { return func(cf *config) { cf.images = r } }

// WithRevisionResolver sets how hub branches become commits. Without one,
// only 40-hex commit revisions give final keys.
func WithRevisionResolver(r RevisionResolver) Option {
	return func(cf *config) { cf.revisions = r }
}

// WithContext sets the context passed to resolvers.
func WithContext(ctx context.Context) Option { return func(cf *config) { cf.ctx = ctx } }

// WithFileHasher replaces the content hash of local files (default:
// SHA-256 of the bytes, memoised per process by path, size and mtime).
func WithFileHasher(h func(path string) (string, error)) Option {
	return func(cf *config) { cf.hashFile = h }
}

// WithCodeVersion sets the code version that enters the keys of one stage
// kind (default "crossin/KIND/v1"). Packages that implement a stage bump
// theirs when their output for the same inputs changes.
func WithCodeVersion(k Kind, version string) Option {
	return func(cf *config) { cf.code[k] = version }
}

// WithResolveTimeout bounds the total time one Build spends in resolvers
// (default 15s). When it runs out, the remaining references stay
// unresolved instead of being asked for.
func WithResolveTimeout(d time.Duration) Option {
	return func(cf *config) { cf.resolveBudget = d }
}

// WithSmoke marks the plan as a smoke run (package smoke): desc, the
// smoke bounds, enters every stage's key as the component "smoke", so
// smoke outputs never share a key with a real run's.
func WithSmoke(desc json.RawMessage) Option {
	return func(cf *config) { cf.smoke = desc }
}

// WithExperiments restricts the plan to the named experiments.
func WithExperiments(names ...string) Option {
	return func(cf *config) { cf.experiments = append(cf.experiments, names...) }
}

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

var hex40 = regexp.MustCompile(`^[0-9a-f]{40}$`)

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
				return nil, fmt.Errorf("no experiment %q in the spec (it has %s)", n, strings.Join(all, ", "))
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
			train = b.add(&Stage{
				ID:    fmt.Sprintf("train/%s/%s/s%d", c.Model, c.Mixture, c.Seed),
				Kind:  KindTrain,
				Deps:  []string{ms.ID, ds.ID},
				Cells: []string{cellName},
				Inputs: []Input{
					{Name: "model", Stage: ms.ID},
					{Name: "data", Stage: ds.ID},
				},
				Backend:     backend,
				ImageDigest: digest,
				Unresolved:  unresolved,
				Train:       &TrainParams{Experiment: e.Name, Cell: c.ID, Model: model, Mixture: mix, Seed: c.Seed, Train: c.Train},
				static: []Component{
					{Name: "template", Value: value(model.Template)},
					{Name: "train", Value: value(trainKey(c.Train))},
					{Name: "seed", Value: value(c.Seed)},
					{Name: "backend", Value: backendComp},
				},
			}, e.Name)
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
			ev := &Stage{
				Kind:        KindEval,
				Deps:        []string{ms.ID},
				Cells:       []string{cellName},
				Inputs:      []Input{{Name: "model", Stage: ms.ID}},
				Backend:     backend,
				ImageDigest: digest,
				Unresolved:  append(append([]string(nil), unresolved...), bunres...),
				Eval: &EvalParams{Model: model, Mixture: c.Mixture, Seed: c.Seed, Tuned: train != nil,
					Benchmark: bench, Eval: bench.Eval, Commit: commit},
				static: []Component{
					{Name: "template", Value: value(model.Template)},
					{Name: "benchmark", Value: value(struct {
						Eval trainer.EvalParams `json:"eval"`
						Data any                `json:"data"`
					}{bench.Eval, content})},
					{Name: "backend", Value: backendComp},
				},
			}
			if train != nil {
				ev.ID = fmt.Sprintf("eval/%s/%s/s%d/%s", c.Model, c.Mixture, c.Seed, bn)
				ev.Deps = append(ev.Deps, train.ID)
				ev.Inputs = append(ev.Inputs, Input{Name: "adapter", Stage: train.ID})
			} else {
				// An untuned model does not depend on the seed: one eval
				// serves every seed of the grid.
				ev.ID = fmt.Sprintf("eval/%s/%s/%s", c.Model, c.Mixture, bn)
			}
			ev = b.add(ev, e.Name)
			sc := b.add(&Stage{
				ID:         "score/" + strings.TrimPrefix(ev.ID, "eval/"),
				Kind:       KindScore,
				Deps:       []string{ev.ID},
				Cells:      []string{cellName},
				Inputs:     []Input{{Name: "predictions", Stage: ev.ID}},
				Score:      &ScoreParams{Benchmark: bench, Languages: bench.Eval.Languages, ConsistencyK: bench.ConsistencyK},
				Unresolved: bunres,
				static: []Component{
					{Name: "metrics", Value: value(struct {
						Task         string   `json:"task"`
						Languages    []string `json:"languages"`
						ConsistencyK int      `json:"consistency_k"`
					}{bench.Task, bench.Eval.Languages, bench.ConsistencyK})},
					{Name: "benchmark_data", Value: value(content)},
				},
			}, e.Name)
			cp.Stages.Evals = append(cp.Stages.Evals, BenchStage{Benchmark: bn, Eval: ev.ID, Score: sc.ID})
			row := ReportRow{Cell: c.ID, Model: c.Model, Mixture: c.Mixture, Variants: mix.VariantNames(), Seed: c.Seed, Benchmark: bn, Score: sc.ID}
			row.Volume = mixtureVolume(mix)
			rows = append(rows, row)
			reportInputs = append(reportInputs, Input{Name: c.ID + "|" + bn, Stage: sc.ID})
		}
		ep.Cells = append(ep.Cells, cp)
	}
	var deps []string
	for _, in := range reportInputs {
		deps = append(deps, in.Stage)
	}
	rowsMeta := make([]ReportRow, len(rows))
	for i, r := range rows {
		r.Score = "" // stage IDs are names, not content
		rowsMeta[i] = r
	}
	layout := json.RawMessage("null")
	if len(e.Report) > 0 {
		layout = e.Report
	}
	rep := b.add(&Stage{
		ID:     "report/" + e.Name,
		Kind:   KindReport,
		Deps:   mergeSorted(nil, deps),
		Inputs: reportInputs,
		Cells:  nil,
		Report: &ReportParams{Experiment: e, Rows: rows},
		static: []Component{
			{Name: "experiment", Value: value(e.Name)},
			{Name: "rows", Value: value(rowsMeta)},
			{Name: "layout", Value: value(layout)},
		},
	}, e.Name)
	ep.Report = rep.ID
	b.p.Experiments = append(b.p.Experiments, ep)
	return nil
}

// trainKey is the part of the training parameters that determines the
// adapter: how often a trainer checkpoints only affects resuming.
func trainKey(t trainer.TrainParams) trainer.TrainParams {
	t.CheckpointEvery = 0
	return t
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

// backend returns the key component of a backend: its kind and, for
// container and Slurm backends, the image digest. Tags never enter keys;
// an unresolved tag leaves the key unresolved.
func (b *builder) backend(be *schema.Backend) (json.RawMessage, string, []string) {
	type comp struct {
		Kind  string `json:"kind"`
		Image string `json:"image,omitempty"`
	}
	if be.Kind == schema.BackendEmbedded {
		return value(comp{Kind: be.Kind}), "", nil
	}
	mk := "image\x00" + be.Image
	r, ok := b.resolved[mk]
	if !ok {
		var digest string
		var err error
		if ctx := b.resolveCtx(); ctx != nil || b.cfg.images == nil {
			if ctx == nil {
				ctx = b.cfg.ctx
			}
			digest, err = ImageDigest(ctx, be.Image, b.cfg.images)
		} else {
			err = fmt.Errorf("image %s: not resolved (resolvers took longer than %v; pin it in crossin.lock)", be.Image, b.cfg.resolveBudget)
		}
		r = resolution{value: digest}
		if err != nil {
			r = resolution{unresolved: []string{err.Error()}}
		}
		if b.resolved == nil {
			b.resolved = map[string]resolution{}
		}
		b.resolved[mk] = r
	}
	digest := r.value
	if len(r.unresolved) > 0 {
		return value(comp{Kind: be.Kind, Image: "unresolved"}), "", r.unresolved
	}
	return value(comp{Kind: be.Kind, Image: digest}), digest, nil
}

// ImageDigest returns the digest of an image reference: the reference's
// own digest when pinned ("name@sha256:..."), else the resolver's answer.
func ImageDigest(ctx context.Context, ref string, r ImageResolver) (string, error) {
	if i := strings.LastIndex(ref, "@"); i >= 0 && strings.HasPrefix(ref[i+1:], "sha256:") {
		return ref[i+1:], nil
	}
	if r == nil {
		return "", fmt.Errorf("image %s is a tag, not a digest: pin it (name@sha256:...) or lock it with crossin.lock", ref)
	}
	d, err := r(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", ref, err)
	}
	return d, nil
}

// revision pins a hub revision: commits as they are, other revisions
// through the resolver.
func (b *builder) revision(kind string, h *schema.Hub) (string, []string) {
	if hex40.MatchString(h.Revision) {
		return h.Revision, nil
	}
	// Resolvers may ask the network: ask once per reference.
	mk := kind + "\x00" + h.Repo + "\x00" + h.Revision
	if r, ok := b.resolved[mk]; ok {
		return r.value, r.unresolved
	}
	commit, unres := b.resolveRevision(kind, h)
	if b.resolved == nil {
		b.resolved = map[string]resolution{}
	}
	b.resolved[mk] = resolution{commit, unres}
	return commit, unres
}

// resolution memoises a resolver's answer.
type resolution struct {
	value      string
	unresolved []string
}

func (b *builder) resolveRevision(kind string, h *schema.Hub) (string, []string) {
	if b.cfg.revisions != nil {
		ctx := b.resolveCtx()
		if ctx == nil {
			return "", []string{fmt.Sprintf("%s %s revision %q: not resolved (resolvers took longer than %v; pin it in crossin.lock)", kind, h.Repo, h.Revision, b.cfg.resolveBudget)}
		}
		c, err := b.cfg.revisions(ctx, kind, h.Repo, h.Revision)
		if err == nil && hex40.MatchString(c) {
			return c, nil
		}
		if err != nil {
			return "", []string{fmt.Sprintf("%s %s revision %q: %v", kind, h.Repo, h.Revision, err)}
		}
	}
	return "", []string{fmt.Sprintf("%s %s revision %q is not a commit: pin it to a 40-hex commit", kind, h.Repo, h.Revision)}
}

// hubContent is the key of hub content: repo and pinned commit (the
// revision as written when unresolved; such keys are never looked up).
func hubContent(h *schema.Hub, commit string) map[string]string {
	if commit == "" {
		return map[string]string{"repo": h.Repo, "unresolved": h.Revision}
	}
	return map[string]string{"repo": h.Repo, "commit": commit}
}

func (b *builder) modelStage(m *schema.Model, cell string) (*Stage, error) {
	s := &Stage{ID: "model/" + m.Name, Kind: KindModel, Cells: []string{cell}, Model: &ModelParams{Model: m}}
	var source any
	switch {
	case m.Hub != nil:
		commit, unres := b.revision("model", m.Hub)
		s.Model.Commit, s.Unresolved = commit, unres
		source = map[string]any{"hub": hubContent(m.Hub, commit)}
	case m.Path != "":
		h, err := HashTree(m.Path, b.cfg.hashFile)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", m.Name, err)
		}
		source = map[string]any{"local": h}
	case m.Init != nil:
		tok, err := b.cfg.hashFile(m.Init.Tokenizer)
		if err != nil {
			return nil, fmt.Errorf("model %s: tokenizer: %w", m.Name, err)
		}
		cfg := *m.Init
		cfg.Tokenizer = tok
		init := map[string]any{"init": cfg}
		// model.Init copies the tokenizer_config.json beside the tokenizer
		// (its BOS/EOS and chat template); it counts when present.
		tc := strings.TrimSuffix(m.Init.Tokenizer, "tokenizer.json") + "tokenizer_config.json"
		if _, err := os.Stat(tc); err == nil && tc != m.Init.Tokenizer {
			h, err := b.cfg.hashFile(tc)
			if err != nil {
				return nil, fmt.Errorf("model %s: tokenizer config: %w", m.Name, err)
			}
			init["tokenizer_config"] = h
		}
		source = init
	}
	s.static = []Component{
		{Name: "source", Value: value(source)},
		{Name: "format", Value: value(map[string]string{"family": m.Family, "dtype": m.DType})},
	}
	return b.add(s, ""), nil
}

func (b *builder) dataStage(m *schema.Mixture, cell string) (*Stage, error) {
	dp := &DataParams{Mixture: m}
	s := &Stage{ID: "data/" + m.Name, Kind: KindData, Cells: []string{cell}, Data: dp}
	type partKey struct {
		Variant   string        `json:"variant"`
		Volume    schema.Volume `json:"volume"`
		Languages []string      `json:"languages"`
		Seed      int64         `json:"seed"`
		Sampling  string        `json:"sampling"`
		Marker    string        `json:"marker,omitempty"`
		Direction string        `json:"direction,omitempty"`
		AllowSame bool          `json:"allow_same,omitempty"`
		Source    any           `json:"source"`
	}
	seen := map[string]bool{}
	var parts []partKey
	addPart := func(variant string, p *schema.Part) error {
		src := b.spec.DataSource(p.Source)
		if src == nil {
			return fmt.Errorf("mixture %s: unknown data source %q", m.Name, p.Source)
		}
		if !seen[src.Name] {
			seen[src.Name] = true
			dp.Sources = append(dp.Sources, src)
		}
		content, commit, unres, err := b.sourceContent(src)
		if err != nil {
			return err
		}
		if commit != "" {
			if dp.Commits == nil {
				dp.Commits = map[string]string{}
			}
			dp.Commits[src.Name] = commit
		}
		s.Unresolved = append(s.Unresolved, unres...)
		parts = append(parts, partKey{Variant: variant, Volume: p.Volume, Languages: p.Languages, Seed: p.Seed,
			Sampling: p.Sampling, Marker: p.Marker, Direction: p.Direction, AllowSame: p.AllowSame, Source: content})
		return nil
	}
	if m.Base != nil {
		if err := addPart("base", m.Base); err != nil {
			return nil, err
		}
	}
	for i := range m.Variants {
		if err := addPart(m.Variants[i].Variant, &m.Variants[i].Part); err != nil {
			return nil, err
		}
	}
	sort.Slice(dp.Sources, func(i, j int) bool { return dp.Sources[i].Name < dp.Sources[j].Name })
	s.static = []Component{{Name: "mixture", Value: value(parts)}}
	return b.add(s, ""), nil
}

// sourceContent is the key of a data source: format, alignment, languages
// and the content hash of each file (or the pinned hub repository).
func (b *builder) sourceContent(d *schema.DataSource) (any, string, []string, error) {
	type key struct {
		Format    string            `json:"format"`
		Align     string            `json:"align"`
		Languages []string          `json:"languages"`
		Files     map[string]string `json:"files,omitempty"` // language -> sha256 (local) or repo path (hub)
		Path      string            `json:"path,omitempty"`  // sha256 (local) or repo path (hub)
		Hub       map[string]string `json:"hub,omitempty"`
		MinScore  float64           `json:"min_score,omitempty"`
	}
	k := key{Format: d.Format, Align: d.Align, Languages: d.Languages, MinScore: d.MinScore}
	if b.content == nil {
		b.content = map[string]any{}
	}
	var commit string
	var unres []string
	if d.Hub != nil {
		commit, unres = b.revision("dataset", d.Hub)
		k.Hub = hubContent(d.Hub, commit)
		k.Files, k.Path = d.Files, d.Path
		return k, commit, unres, nil
	}
	if c, ok := b.content["data/"+d.Name]; ok {
		return c, "", nil, nil
	}
	if len(d.Files) > 0 {
		k.Files = map[string]string{}
		for lang, f := range d.Files {
			h, err := b.cfg.hashFile(f)
			if err != nil {
				return nil, "", nil, fmt.Errorf("data source %s (%s): %w", d.Name, lang, err)
			}
			k.Files[lang] = h
		}
	}
	if d.Path != "" {
		h, err := HashTree(d.Path, b.cfg.hashFile)
		if err != nil {
			return nil, "", nil, fmt.Errorf("data source %s: %w", d.Name, err)
		}
		k.Path = h
	}
	b.content["data/"+d.Name] = k
	return k, "", nil, nil
}

// benchContent is the key of a benchmark's questions.
func (b *builder) benchContent(bm *schema.Benchmark) (any, string, []string, error) {
	if bm.Hub != nil {
		commit, unres := b.revision("dataset", bm.Hub)
		return map[string]any{"hub": hubContent(bm.Hub, commit), "config": bm.Task}, commit, unres, nil
	}
	if b.content == nil {
		b.content = map[string]any{}
	}
	if c, ok := b.content["bench/"+bm.Name]; ok {
		return c, "", nil, nil
	}
	h, err := b.cfg.hashFile(bm.Path)
	if err != nil {
		return nil, "", nil, fmt.Errorf("benchmark %s: %w", bm.Name, err)
	}
	c := map[string]any{"file": h}
	b.content["bench/"+bm.Name] = c
	return c, "", nil, nil
}

var kindRank = map[Kind]int{KindModel: 0, KindData: 1, KindTrain: 2, KindEval: 3, KindScore: 4, KindReport: 5}

// order sorts the stages so that every stage follows its dependencies:
// stage kinds only depend on earlier kinds, so sorting by kind then ID is
// a topological order that does not depend on how the spec was written.
func (p *Plan) order() {
	sort.SliceStable(p.Stages, func(i, j int) bool {
		a, b := p.Stages[i], p.Stages[j]
		if kindRank[a.Kind] != kindRank[b.Kind] {
			return kindRank[a.Kind] < kindRank[b.Kind]
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
