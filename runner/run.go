package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/crossin-lab/crossin/resultset"
	"github.com/crossin-lab/crossin/runner/cache"
	"github.com/crossin-lab/crossin/runner/plan"
	"github.com/crossin-lab/crossin/schema"
)

// RunOptions configure Run.
type RunOptions struct {
	Cache *cache.Cache
	// Experiments restricts the run to these experiments (default: all).
	Experiments []string
	Jobs        int  // stages at once (default: number of CPUs)
	FailFast    bool // stop everything at the first failure
	Retries     int  // extra attempts of a failed stage
	// RetriesByKind overrides Retries for stage kinds (train, eval, ...).
	RetriesByKind map[plan.Kind]int
	// OutDir receives each experiment's results.json, results.md and
	// results.txt under OutDir/EXPERIMENT (default "results").
	OutDir string
	Events func(Event)
	// Version is the crossin version recorded in cache entries.
	Version string
	// PlanOptions are passed to plan.Build (resolvers, code versions).
	PlanOptions []plan.Option
	// Backends run the train and eval jobs, by backend kind.
	Backends Backends
	// Remote is the shared remote cache (nil: none).
	Remote RemoteCache
	// Provenance is recorded in every results.json (the build and the
	// spec files; see package provenance). Nil: none.
	Provenance *resultset.Provenance
	// Pins vouches for references pinned outside the spec (crossin.lock).
	Pins Pins
}

// Report is one experiment's rendered results.
type Report struct {
	Experiment string
	Dir        string // where results.* were written
	Table      []byte // results.txt: the comparison table as printed
	Partial    bool   // some cells failed or were not run
}

// RunResult is the outcome of Run.
type RunResult struct {
	Plan    *plan.Plan
	Summary *Summary
	Reports []Report
}

// unresolvedError lists, once each, the references that keep stages of p
// from having final keys.
func unresolvedError(p *plan.Plan) error {
	seen := map[string]bool{}
	var msgs []string
	n := 0
	for _, s := range p.Stages {
		if len(s.Unresolved) == 0 {
			continue
		}
		n++
		for _, u := range s.Unresolved {
			if !seen[u] {
				seen[u] = true
				msgs = append(msgs, "  "+u)
			}
		}
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("%d stages cannot be keyed, nothing was run:\n%s\npin them with `crossin lock` (check that the registry or hub is reachable and the image exists)", n, strings.Join(msgs, "\n"))
}

// keyable splits p's experiments into those whose stages all have final
// keys and those blocked by an unresolved reference.
func keyable(p *plan.Plan) (ok, blocked []string) {
	for _, ep := range p.Experiments {
		ids := []string{ep.Report}
		for _, c := range ep.Cells {
			ids = append(ids, c.CellStageIDs()...)
		}
		final := true
		for _, id := range ids {
			if s := p.Stage(id); s != nil && len(s.Unresolved) > 0 {
				final = false
				break
			}
		}
		if final {
			ok = append(ok, ep.Name)
		} else {
			blocked = append(blocked, ep.Name)
		}
	}
	return ok, blocked
}

// experimentHint names the experiments an unresolved reference blocks and
// how to run the others.
func experimentHint(ok, blocked []string) string {
	h := "needed by experiment " + strings.Join(blocked, ", ")
	if len(ok) > 0 {
		h += fmt.Sprintf("; to run the others, choose them with -e (for example -e %s)", strings.Join(ok, ","))
	}
	return h
}

// Run plans the specs and executes the plan against the cache: it builds
// data, trains, evaluates, scores and reports every experiment, reusing
// every stage whose output is cached. Each experiment's results are
// written to OutDir/EXPERIMENT, even when some cells failed (those rows
// are marked failed); the returned error then names the failed stages.
func Run(ctx context.Context, spec *schema.Spec, opt RunOptions) (*RunResult, error) {
	if opt.Cache == nil {
		return nil, errors.New("runner: no cache")
	}
	if opt.OutDir == "" {
		opt.OutDir = DefaultOutDir
	}
	popts := append([]plan.Option{plan.WithCache(opt.Cache), plan.WithContext(ctx), plan.WithCodeVersion(plan.KindReport, ReportCodeVersion)}, opt.PlanOptions...)
	if len(opt.Experiments) > 0 {
		popts = append(popts, plan.WithExperiments(opt.Experiments...))
	}
	p, err := plan.Build(spec, popts...)
	if err != nil {
		return nil, err
	}
	// An image or hub revision that cannot be pinned (registry unreachable,
	// image missing, unpinned under --locked) stops the run before any work
	// starts: its stages' keys are not final, and running the rest first
	// would only postpone the error.
	if err := unresolvedError(p); err != nil {
		ok, blocked := keyable(p)
		if len(opt.Experiments) == 0 && len(ok) > 0 {
			// No experiment was asked for: run those that can be keyed
			// (a directory often holds a quick experiment beside one
			// that needs a registry or the hub), and say what was not.
			sub := opt
			sub.Experiments = ok
			res, runErr := Run(ctx, spec, sub)
			return res, errors.Join(runErr, fmt.Errorf("experiment %s was not run: %w", strings.Join(blocked, ", "), err))
		}
		var others []string // the spec's experiments not blocked (some may not be planned)
		for _, e := range spec.Experiments {
			if !slices.Contains(blocked, e.Name) {
				others = append(others, e.Name)
			}
		}
		return &RunResult{Plan: p}, fmt.Errorf("%w\n%s", err, experimentHint(others, blocked))
	}
	// A results directory that cannot be written would fail the run
	// after all its compute: find it now.
	for _, ep := range p.Experiments {
		if err := checkWritableDir(filepath.Join(opt.OutDir, ep.Name)); err != nil {
			return &RunResult{Plan: p}, fmt.Errorf("results of %s cannot be written, nothing was run: %w", ep.Name, err)
		}
	}
	records := plan.RecordsOf(opt.Cache.Dir(), p)
	var mu sync.Mutex // guards the plan's stages while they are rekeyed
	stages := make([]*Stage, 0, len(p.Stages))
	byID := map[string]*plan.Stage{}
	for _, ps := range p.Stages {
		ps := ps
		byID[ps.ID] = ps
		// A stage that cannot run here fails alone (its dependents are
		// skipped), so the rest of the plan still runs.
		run, err := stageFunc(p, ps, opt.Backends)
		if len(ps.Unresolved) > 0 {
			err = fmt.Errorf("its key is not final: %s", strings.Join(ps.Unresolved, "; "))
		}
		if err != nil {
			cannot := err
			run = func(context.Context, *StageContext) error { return cannot }
		}
		stages = append(stages, &Stage{
			Name:     ps.ID,
			Kind:     ps.Kind,
			ActionID: ps.ActionID,
			Deps:     ps.Deps,
			Retries:  retries(opt, ps.Kind),
			Run:      run,
			// Training and inference on the embedded engine use every CPU.
			Heavy: (ps.Kind == plan.KindTrain || ps.Kind == plan.KindEval) &&
				(ps.Backend == nil || ps.Backend.Kind == schema.BackendEmbedded),
			Key: func(depOutputs map[string]string) (string, error) {
				mu.Lock()
				defer mu.Unlock()
				p.RekeyStage(ps, func(id string) (string, bool) {
					o, ok := depOutputs[id]
					return o, ok && o != ""
				})
				if ps.Pending {
					return "", fmt.Errorf("an input of %s has no output", ps.ID)
				}
				return ps.ActionID, nil
			},
		})
	}
	engine := "embedded " + opt.Version
	var recErr error
	sum, err := Execute(ctx, stages, Options{
		Cache:    opt.Cache,
		Jobs:     opt.Jobs,
		FailFast: opt.FailFast,
		Engine:   engine,
		Events:   opt.Events,
		Remote:   opt.Remote,
		OnDone: func(st *Stage, r *Result) {
			mu.Lock()
			defer mu.Unlock()
			ps := byID[st.Name]
			ps.OutputID, ps.Status = r.OutputID, plan.StatusCached
			// The record is what explain compares the next plan with. On
			// a cache this process may only read, explain has to make do
			// with the records there.
			if err := records.Save(ps.ID, ps.Key); err != nil && recErr == nil && !readOnly(err) {
				recErr = err
			}
		},
	})
	if err != nil {
		return nil, err
	}
	res := &RunResult{Plan: p, Summary: sum}
	for _, ep := range p.Experiments {
		dir := filepath.Join(opt.OutDir, ep.Name)
		r := Report{Experiment: ep.Name, Dir: dir}
		rr := sum.Results[ep.Report]
		r.Partial = rr == nil || !(rr.Status == StatusRan || rr.Status == StatusCached || rr.Status == StatusShared || rr.Status == StatusPulled)
		// The results are assembled from the plan as it ran, not copied
		// from the report stage's output: each row records the keys and
		// outputs of the stages behind it, which the report stage's own key
		// does not cover. Failed cells are marked, never zero.
		set, err := collect(p, ep, true, func(stageID string) (string, string, string) {
			r := sum.Results[stageID]
			if r == nil {
				return "", resultset.StatusMissing, ""
			}
			switch r.Status {
			case StatusRan, StatusCached, StatusShared, StatusPulled:
				return r.OutputDir, resultset.StatusOK, ""
			case StatusFailed:
				return "", resultset.StatusFailed, r.Err.Error()
			case StatusSkipped:
				if strings.HasPrefix(r.Err.Error(), "dependency ") {
					return "", resultset.StatusFailed, r.Err.Error()
				}
			}
			return "", resultset.StatusMissing, ""
		})
		if err != nil {
			return res, err
		}
		ApplyPins(set, opt.Pins)
		set.Provenance = opt.Provenance
		if err := RenderReport(dir, set); err != nil {
			return res, fmt.Errorf("writing results of %s: %w", ep.Name, err)
		}
		tab, err := os.ReadFile(filepath.Join(dir, ResultsTable))
		if err != nil {
			return res, err
		}
		r.Table = tab
		res.Reports = append(res.Reports, r)
	}
	if recErr != nil {
		return res, fmt.Errorf("saving explain records: %w", recErr)
	}
	return res, sum.Err()
}

// checkWritableDir creates dir if needed and checks that a file can be
// created in it.
func checkWritableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".crossin-check-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

// readOnly reports whether err says a file may not be written.
func readOnly(err error) bool {
	return errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS)
}

func retries(opt RunOptions, kind plan.Kind) int {
	if n, ok := opt.RetriesByKind[kind]; ok {
		return n
	}
	return opt.Retries
}

// experimentLayout returns the experiment's declared report layouts
// (nil if none).
func experimentLayout(p *plan.Plan, ep *plan.ExperimentPlan) json.RawMessage {
	if rs := p.Stage(ep.Report); rs != nil && rs.Report != nil && rs.Report.Experiment != nil {
		return rs.Report.Experiment.Report
	}
	return nil
}

// collect assembles an experiment's result set from its score stages.
// outputOf says where a score stage's output is and its status. With
// withSource, each row records the stages behind it (their keys as the
// plan has them now) and the pinned inputs of those keys.
func collect(p *plan.Plan, ep *plan.ExperimentPlan, withSource bool, outputOf func(stageID string) (dir, status, errMsg string)) (*resultset.Set, error) {
	rs := p.Stage(ep.Report)
	if rs == nil || rs.Report == nil {
		return nil, fmt.Errorf("experiment %s has no report stage", ep.Name)
	}
	layout, err := json.Marshal(ReportLayout(experimentLayout(p, ep)))
	if err != nil {
		return nil, err
	}
	set := &resultset.Set{Experiment: ep.Name, Layout: layout}
	for _, row := range rs.Report.Rows {
		r := resultset.Row{
			Cell: row.Cell, Model: row.Model, Mixture: row.Mixture, Variants: row.Variants,
			Volume: row.Volume, Seed: row.Seed, Benchmark: row.Benchmark,
		}
		if r.Variants == nil {
			r.Variants = []string{}
		}
		dir, status, msg := outputOf(row.Score)
		r.Status = status
		if status == resultset.StatusOK {
			sc, err := ReadScore(dir)
			if err != nil {
				return nil, fmt.Errorf("reading score of %s: %w", row.Score, err)
			}
			r.Score = sc
		} else if status == resultset.StatusFailed {
			r.Error = msg
		}
		if withSource {
			r.Source = RowSource(p, row.Score)
		}
		set.Rows = append(set.Rows, r)
	}
	return set, nil
}

// Results returns an experiment's results from the cache without running
// anything: the rows of its cached score stages (others marked missing),
// each with the stages behind it. The caller adds the run's Provenance.
func Results(spec *schema.Spec, c *cache.Cache, experiment string, popts ...plan.Option) (*resultset.Set, *plan.Plan, error) {
	opts := append([]plan.Option{plan.WithCache(c), plan.WithCodeVersion(plan.KindReport, ReportCodeVersion)}, popts...)
	if experiment != "" {
		opts = append(opts, plan.WithExperiments(experiment))
	}
	p, err := plan.Build(spec, opts...)
	if err != nil {
		return nil, nil, err
	}
	if len(p.Experiments) == 0 {
		return nil, nil, errors.New("the spec declares no experiment")
	}
	if len(p.Experiments) > 1 {
		var names []string
		for _, e := range p.Experiments {
			names = append(names, e.Name)
		}
		return nil, nil, fmt.Errorf("the spec has several experiments (%v); choose one with -e NAME", names)
	}
	ep := p.Experiments[0]
	var corrupt CorruptResultsError
	var readErrs []error
	set, err := collect(p, ep, true, func(stageID string) (string, string, string) {
		s := p.Stage(stageID)
		if s == nil || s.Status != plan.StatusCached {
			return "", resultset.StatusMissing, ""
		}
		e, err := c.Get(s.ActionID)
		var ce *cache.CorruptError
		switch {
		case err == nil:
			return c.OutputDir(e.OutputID), resultset.StatusOK, ""
		case errors.As(err, &ce):
			// Removed by Get; the row is missing now, and the caller
			// must say so instead of showing a shorter table.
			corrupt.Stages = append(corrupt.Stages, stageID)
			corrupt.Errs = append(corrupt.Errs, ce)
		case !errors.Is(err, cache.ErrNotFound):
			readErrs = append(readErrs, fmt.Errorf("%s: %w", stageID, err))
		}
		return "", resultset.StatusMissing, ""
	})
	if err != nil {
		return nil, nil, err
	}
	if len(readErrs) > 0 {
		return nil, nil, errors.Join(readErrs...)
	}
	if len(corrupt.Stages) > 0 {
		return set, p, &corrupt
	}
	return set, p, nil
}

// CorruptResultsError is returned by Results (with the results) when
// cached results failed verification: they were removed, their rows are
// missing, and `crossin run` rebuilds them.
type CorruptResultsError struct {
	Stages []string
	Errs   []error // one *cache.CorruptError per stage
}

func (e *CorruptResultsError) Error() string {
	return fmt.Sprintf("%d cached results were corrupt and have been removed, so their rows are missing (%s); `crossin run` rebuilds them",
		len(e.Stages), strings.Join(e.Stages, ", "))
}
