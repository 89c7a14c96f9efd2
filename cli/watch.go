package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/crossin-lab/crossin/runner"
	"github.com/crossin-lab/crossin/runner/cache"
	"github.com/crossin-lab/crossin/runner/plan"
	"github.com/crossin-lab/crossin/schema"
	"github.com/crossin-lab/crossin/watch"
)

// watchCmd is `crossin watch`.
func watchCmd() *cobra.Command {
	var (
		jobs        int
		out         string
		debounce    time.Duration
		asJSON      bool
		experiments []string
	)
	cmd := &cobra.Command{
		Use:   "watch [PATH...]",
		Short: "Re-run what an edit made stale, and refresh the table, while you edit specs and data",
		Long: `Watch runs the experiments in PATH (default: experiments/ at a project
root, else the current directory) like
'crossin run', then watches the spec files and the local data files they
reference. After each save it re-plans, runs only the stale stages (one line
per re-run stage says why, as 'crossin explain' would) and refreshes the
table. An edit that makes the spec invalid shows the error with its position
and keeps the last good table. An edit during a run cancels the run; stages
already finished stay in the cache and an interrupted training resumes from
its checkpoint. Ctrl-C stops cleanly.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			roots := specPaths(args)
			c, err := cache.OpenDefault()
			if err != nil {
				return err
			}
			cwd, _ := os.Getwd()
			stdout := cmd.OutOrStdout()
			step := watchStep(roots, c, cwd, jobs, out, experiments)
			opts := []watch.Option{
				watch.WithDebounce(debounce),
				watch.WithOutput(stdout),
				watch.WithClearScreen(isTerminal(stdout) && !asJSON),
			}
			if asJSON {
				enc := json.NewEncoder(stdout)
				var mu sync.Mutex
				opts = []watch.Option{watch.WithDebounce(debounce), watch.WithEvents(func(e watch.Event) {
					mu.Lock()
					defer mu.Unlock()
					enc.Encode(e)
				})}
			}
			return watch.Run(cmd.Context(), roots, step, opts...)
		},
	}
	cmd.Flags().IntVarP(&jobs, "jobs", "j", 0, "stages to run at once (default: number of CPUs)")
	outputFlag(cmd, &out, runner.DefaultOutDir, "directory for the results (one subdirectory per experiment)")
	cmd.Flags().DurationVar(&debounce, "debounce", 100*time.Millisecond, "wait this long for a burst of file events to end")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print watch events as JSON lines instead of tables")
	cmd.Flags().StringSliceVarP(&experiments, "experiment", "e", nil, "run only these experiments")
	return cmd
}

// watchStep is one re-plan-and-run: load the spec (an invalid one is an
// error with positions), explain every stale stage against its last
// record, run, and render the tables.
func watchStep(roots []string, c *cache.Cache, cwd string, jobs int, out string, experiments []string) watch.Step {
	hashes := &plan.HashMemo{Dir: filepath.Join(c.Dir(), "hashes")}
	return func(ctx context.Context, live *watch.Live) (*watch.Result, error) {
		spec, err := schema.Load(specPaths(roots)...)
		if err != nil {
			return nil, fmt.Errorf("%s", formatError(err, cwd))
		}
		popts, err := planOptions(ctx, c.Dir(), spec)
		if err != nil {
			return nil, err
		}
		// Each step plans twice (the reasons, then the run): unchanged
		// input files are not hashed again (an edited one is).
		popts = append(popts, plan.WithFileHasher(hashes.HashFile))
		// Why each stale stage will run, before running overwrites the records.
		p, err := plan.Build(spec, append(append([]plan.Option(nil), popts...), plan.WithCache(c))...)
		if err != nil {
			return nil, fmt.Errorf("%s", formatError(err, cwd))
		}
		why := staleReasons(p, plan.OpenRecords(c.Dir()))
		backends, run, notRun, err := backendsOrSkip(ctx, spec, c.Dir(), experiments)
		if err != nil {
			return nil, err
		}
		if notRun != nil {
			live.Line(notRun.Error())
		}
		prov, pins, err := recordProvenance(spec)
		if err != nil {
			return nil, err
		}
		progress := newWatchProgress(live, why)
		res, runErr := runner.Run(ctx, spec, runner.RunOptions{
			Cache: c, Experiments: run, Jobs: jobs, OutDir: out,
			Version: Version, PlanOptions: popts,
			Backends: backends, Provenance: prov, Pins: pins,
			Events: progress.event,
		})
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var table bytes.Buffer
		if res != nil {
			for _, r := range res.Reports {
				if len(res.Reports) > 1 {
					fmt.Fprintf(&table, "== %s\n", r.Experiment)
				}
				table.Write(r.Table)
			}
		}
		if runErr != nil && table.Len() == 0 {
			return nil, runErr
		}
		if runErr != nil {
			fmt.Fprintf(&table, "some stages failed: %v\n", runErr)
		}
		return &watch.Result{Table: table.String(), Reruns: progress.lines, Inputs: specInputs(spec)}, nil
	}
}

// watchProgress turns the runner's events into what watch shows while a
// re-run is in flight: one line per stage as it starts, saying why it
// runs (so the reasons come in execution order, each once), a line per
// failure, and a progress line of the stages running now.
type watchProgress struct {
	live    *watch.Live
	why     map[string]string
	started map[string]bool
	running []string // in start order
	status  map[string]string
	lines   []string // the "run STAGE: why" lines, in execution order
}

func newWatchProgress(live *watch.Live, why map[string]string) *watchProgress {
	return &watchProgress{live: live, why: why, started: map[string]bool{}, status: map[string]string{}}
}

// event is the runner's event sink; the runner calls it from one
// goroutine at a time.
func (w *watchProgress) event(e runner.Event) {
	switch e.Type {
	case runner.EvStart:
		if !w.started[e.Stage] {
			w.started[e.Stage] = true
			r := w.why[e.Stage]
			if r == "" {
				r = "not in the cache"
			}
			if e.Resumed {
				r += " (resuming from its checkpoint)"
			}
			line := fmt.Sprintf("run %s: %s", e.Stage, r)
			w.lines = append(w.lines, line)
			w.live.Line(line)
		}
		w.running = append(w.running, e.Stage)
		w.status[e.Stage] = "started"
	case runner.EvProgress:
		st := fmt.Sprintf("%d/%d", e.Done, e.StageTotal)
		if e.StageTotal > 0 {
			st = fmt.Sprintf("%d%% (%d/%d)", 100*e.Done/e.StageTotal, e.Done, e.StageTotal)
		}
		if e.ETA > 0 {
			st += fmt.Sprintf(" eta %s", (time.Duration(e.ETA) * time.Second).Round(time.Second))
		}
		w.status[e.Stage] = st
	case runner.EvDone, runner.EvSkipped:
		w.stop(e.Stage)
	case runner.EvFailed:
		w.stop(e.Stage)
		w.live.Line(fmt.Sprintf("failed %s: %s", e.Stage, e.Error))
	case runner.EvCorrupt:
		w.live.Line(fmt.Sprintf("corrupt %s: %s", e.Stage, e.Error))
	default:
		return
	}
	var parts []string
	for _, s := range w.running {
		parts = append(parts, s+" "+w.status[s])
	}
	if len(parts) > 0 {
		w.live.Progress("running: " + strings.Join(parts, ", "))
	}
}

func (w *watchProgress) stop(stage string) {
	for i, s := range w.running {
		if s == stage {
			w.running = append(w.running[:i], w.running[i+1:]...)
			break
		}
	}
	delete(w.status, stage)
}

// staleReasons explains, for every stage that is not cached, what changed
// since its last recorded run, in one line.
func staleReasons(p *plan.Plan, rec *plan.Records) map[string]string {
	out := map[string]string{}
	for _, s := range p.Stages {
		if s.Status == plan.StatusCached {
			continue
		}
		exps, err := plan.Explain(p, rec, s.ID)
		if err != nil {
			continue
		}
		for _, e := range exps {
			if e.Stage != s.ID {
				continue
			}
			switch {
			case !e.Recorded:
				out[s.ID] = "never run before"
			case len(e.Changes) == 0:
				out[s.ID] = "key unchanged, output missing from the cache"
			default:
				var parts []string
				for _, c := range e.Changes {
					if plan.IsInput(c.Component) && len(e.Because) > 0 {
						continue
					}
					parts = append(parts, c.String())
				}
				if len(e.Because) > 0 {
					parts = append(parts, "upstream changed: "+strings.Join(e.Because, ", "))
				}
				out[s.ID] = strings.Join(parts, "; ")
			}
		}
	}
	return out
}

// specInputs lists the local files a spec reads besides its CUE files.
func specInputs(spec *schema.Spec) []string {
	var in []string
	in = append(in, spec.Files...)
	for _, m := range spec.Models {
		if m.Init != nil {
			in = append(in, m.Init.Tokenizer)
		}
	}
	for _, d := range spec.Data {
		if d.Hub != nil {
			continue
		}
		for _, f := range d.Files {
			in = append(in, f)
		}
		if d.Path != "" {
			in = append(in, d.Path)
		}
	}
	for _, b := range spec.Benchmarks {
		if b.Path != "" {
			in = append(in, b.Path)
		}
	}
	var out []string
	for _, p := range in {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			out = append(out, filepath.Clean(p))
		}
	}
	return out
}
