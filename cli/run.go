package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/crossin-lab/crossin/runner"
	"github.com/crossin-lab/crossin/runner/cache"
	"github.com/crossin-lab/crossin/runner/plan"
	"github.com/crossin-lab/crossin/schema"
	"github.com/crossin-lab/crossin/trainer/embedded"
)

// runCmd is `crossin run`.
func runCmd() *cobra.Command {
	var (
		jobs        int
		keepGoing   bool
		failFast    bool
		retries     string
		out         string
		asJSON      bool
		remoteRepo  string
		smokeRun    bool
		experiments []string
	)
	cmd := &cobra.Command{
		Use:   "run [PATH...]",
		Short: "Run experiments end to end: build data, train, evaluate, score, report",
		Long: `Run plans the experiments of the spec (default: experiments/ at a project
root, else the current directory) and
runs every stage that is not in the cache: build the training mixtures,
train the LoRA adapters, evaluate them on the benchmarks, score the
predictions and render the comparison table, which is printed and written
(results.json, results.md, results.txt) to OUT/EXPERIMENT.

Finished stages are reused from the cache ($CROSSIN_CACHE, or the user
cache directory), so a second run only prints the table, and a run that was
killed resumes: finished stages are kept and an interrupted training
continues from its last checkpoint. Several crossin processes may share one
cache; a stage another process is running is waited for, not run twice.

Progress is a live view when stdout is a terminal, plain lines on stderr
otherwise, and JSON-line events on stdout with --json. The log of every
stage is kept with its outputs: crossin logs STAGE.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if keepGoing && failFast {
				return Usagef("--keep-going and --fail-fast exclude each other")
			}
			if jobs < 0 {
				return Usagef("-j must be >= 0")
			}
			nRetries, byKind, err := parseRetries(retries)
			if err != nil {
				return err
			}
			spec, err := loadSpec(args, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			spec, smokeOpts, err := smokeSpec(spec, smokeRun)
			if err != nil {
				return err
			}
			if smokeRun && !cmd.Flags().Changed("output") && !cmd.Flags().Changed("out") {
				out = smokeOutDir
			}
			c, err := cache.OpenDefault()
			if err != nil {
				return err
			}
			popts, err := planOptions(cmd.Context(), c.Dir(), spec)
			if err != nil {
				return err
			}
			popts = append(popts, smokeOpts...)
			backends, experiments, notRun, err := backendsOrSkip(cmd.Context(), spec, c.Dir(), experiments)
			if err != nil {
				return err
			}
			var remote runner.RemoteCache
			if !smokeRun { // smoke outputs stay on this machine
				if remote, err = remoteFor(spec, experiments, remoteRepo); err != nil {
					return err
				}
			}
			prov, pins, err := recordProvenance(spec)
			if err != nil {
				return err
			}
			prov.Smoke = smokeRun
			stdout := cmd.OutOrStdout()
			var events func(runner.Event)
			var live *runner.LiveView
			switch {
			case asJSON:
				events = runner.JSONEvents(stdout)
			case isTerminal(stdout):
				w, _, _ := term.GetSize(int(stdout.(*os.File).Fd()))
				live = runner.NewLiveView(stdout, w)
				events = live.Event
			default:
				events = runner.PlainEvents(cmd.ErrOrStderr())
			}
			res, err := runner.Run(cmd.Context(), spec, runner.RunOptions{
				Cache:         c,
				Experiments:   experiments,
				Jobs:          jobs,
				FailFast:      failFast,
				Retries:       nRetries,
				RetriesByKind: byKind,
				OutDir:        out,
				Events:        events,
				Version:       Version,
				PlanOptions:   popts,
				Backends:      backends,
				Remote:        remote,
				Provenance:    prov,
				Pins:          pins,
			})
			if live != nil {
				live.Close()
			}
			if res != nil && !asJSON {
				printSmokeBanner(stdout, res.Plan)
				for _, r := range res.Reports {
					if len(res.Reports) > 1 {
						fmt.Fprintf(stdout, "== %s\n", r.Experiment)
					}
					stdout.Write(r.Table)
					note := ""
					if r.Partial {
						note = " (partial: some cells failed or did not run)"
					}
					fmt.Fprintf(stdout, "results: %s%s\n", r.Dir, note)
				}
			}
			return errors.Join(err, notRun)
		},
	}
	cmd.Flags().IntVarP(&jobs, "jobs", "j", 0, "stages to run at once (default: number of CPUs)")
	cmd.Flags().BoolVarP(&keepGoing, "keep-going", "k", false, "after a failure, run every stage that does not depend on it (the default)")
	cmd.Flags().BoolVar(&failFast, "fail-fast", false, "stop every stage at the first failure")
	cmd.Flags().StringVar(&retries, "retries", "0", "extra attempts for a failed stage: N for every stage, or per kind, e.g. train=2,eval=1")
	outputFlag(cmd, &out, runner.DefaultOutDir, "directory for the results (one subdirectory per experiment)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print progress as JSON-line events on stdout")
	cmd.Flags().StringVar(&remoteRepo, "remote", "", "remote cache REGISTRY/REPOSITORY: pull finished stages from it, push what runs (default $CROSSIN_REMOTE_CACHE, else the experiments' remote)")
	cmd.Flags().StringSliceVarP(&experiments, "experiment", "e", nil, "run only these experiments")
	cmd.Flags().BoolVar(&smokeRun, "smoke", false, smokeUsage+"; results go to "+smokeOutDir+"/ unless -o is given")
	return cmd
}

// needsRemoteBackend reports whether an experiment to run uses a container
// or Slurm backend (whose trainers need images and engines to be set up).
// backendsFor returns the trainers for the experiments to run: the
// embedded engine, plus the container and Slurm trainers of the spec's
// backends (images pinned through crossin.lock) when an experiment uses
// them.
func backendsFor(ctx context.Context, spec *schema.Spec, cacheDir string, experiments []string) (runner.Backends, error) {
	backends := runner.Backends{schema.BackendEmbedded: embedded.New()}
	if needsRemoteBackend(spec, experiments) {
		bt, err := BackendTrainers(ctx, spec, cacheDir, false)
		if err != nil {
			return nil, err
		}
		for k, t := range bt {
			backends[k] = t
		}
	}
	return backends, nil
}

// backendsOrSkip is backendsFor for run and watch. When the trainers of a
// container or Slurm backend cannot be set up (an unreachable registry, a
// missing engine) and no experiment was chosen with -e, the experiments
// that need them are left out: run is the experiments to run, and notRun
// says what was not run and why (the command fails with it after running
// the others). With -e, the error names the
// experiments that can run instead.
func backendsOrSkip(ctx context.Context, spec *schema.Spec, cacheDir string, experiments []string) (backends runner.Backends, run []string, notRun, err error) {
	backends, err = backendsFor(ctx, spec, cacheDir, experiments)
	if err == nil {
		return backends, experiments, nil, nil
	}
	var local, remote []string
	for _, e := range spec.Experiments {
		if b := spec.Backend(e.Backend); b != nil && b.Kind != schema.BackendEmbedded {
			remote = append(remote, e.Name)
		} else {
			local = append(local, e.Name)
		}
	}
	if len(experiments) > 0 || len(local) == 0 {
		hint := ""
		if len(local) > 0 {
			hint = fmt.Sprintf("\nneeded by experiment %s; to run the others, choose them with -e (for example -e %s)", strings.Join(remote, ", "), strings.Join(local, ","))
		}
		return nil, nil, nil, fmt.Errorf("%w%s", err, hint)
	}
	notRun = fmt.Errorf("experiment %s was not run: %w", strings.Join(remote, ", "), err)
	backends, err = backendsFor(ctx, spec, cacheDir, local)
	if err != nil {
		return nil, nil, nil, err
	}
	return backends, local, notRun, nil
}

func needsRemoteBackend(spec *schema.Spec, only []string) bool {
	for _, e := range spec.Experiments {
		if len(only) > 0 && !slices.Contains(only, e.Name) {
			continue
		}
		if b := spec.Backend(e.Backend); b != nil && b.Kind != schema.BackendEmbedded {
			return true
		}
	}
	return false
}

// parseRetries reads --retries: "N" or "KIND=N,...".
func parseRetries(s string) (int, map[plan.Kind]int, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 {
			return 0, nil, Usagef("--retries %d: must be >= 0", n)
		}
		return n, nil, nil
	}
	by := map[plan.Kind]int{}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(part, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 {
			return 0, nil, Usagef("--retries %q: want N or KIND=N,... (kinds: %s)", s, plan.KindList())
		}
		kind, err := plan.ParseKind(k)
		if err != nil {
			return 0, nil, Usagef("--retries: %v", err)
		}
		by[kind] = n
	}
	return 0, by, nil
}

// isTerminal reports whether s (a stream: stdin, stdout) is a terminal.
func isTerminal(s any) bool {
	f, ok := s.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
