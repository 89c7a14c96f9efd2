package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crossin-lab/crossin/internal/cachedir"
	"github.com/crossin-lab/crossin/runner/plan"
	"github.com/crossin-lab/crossin/schema"
)

// planOptions returns the plan options every command that plans (plan,
// explain, run, report, watch) uses, so that they all see the same keys:
// crossin.lock's pins with the image and hub revision resolvers
// (lockPlanHook), then the runner's cache and the embedded engine's code
// versions (cachePlanOptions).
func planOptions(ctx context.Context, cacheDir string, spec *schema.Spec) ([]plan.Option, error) {
	all, err := lockPlanHook(ctx, spec)
	if err != nil {
		return nil, err
	}
	o, err := cachePlanOptions(ctx, cacheDir)
	if err != nil {
		return nil, err
	}
	return append(all, o...), nil
}

// loadPlan loads the spec at paths (default: see specPaths) and builds its
// plan with planOptions, then opts; of the smoke version of the spec when
// smoke is set.
// The checks of loadSpec see the spec as written, before smoke swaps in
// tiny models and the embedded backend.
func loadPlan(ctx context.Context, paths []string, smoke bool, opts ...plan.Option) (*schema.Spec, *plan.Plan, error) {
	spec, err := loadSpec(paths, os.Stderr)
	if err != nil {
		return nil, nil, err
	}
	spec, sopts, err := smokeSpec(spec, smoke)
	if err != nil {
		return nil, nil, err
	}
	opts = append(sopts, opts...)
	cacheDir, err := cachedir.Dir()
	if err != nil {
		return nil, nil, err
	}
	memo := &plan.HashMemo{Dir: filepath.Join(cacheDir, "hashes")}
	all := []plan.Option{plan.WithContext(ctx), plan.WithFileHasher(memo.HashFile)}
	po, err := planOptions(ctx, cacheDir, spec)
	if err != nil {
		return nil, nil, err
	}
	all = append(all, po...)
	p, err := plan.Build(spec, append(all, opts...)...)
	if err != nil {
		return nil, nil, err
	}
	return spec, p, nil
}

// planCmd is `crossin plan`.
func planCmd() *cobra.Command {
	var (
		asJSON      bool
		verbose     bool
		record      bool
		smokeRun    bool
		experiments []string
	)
	cmd := &cobra.Command{
		Use:   "plan [PATH...]",
		Short: "Show the stages an experiment grid expands to",
		Long: `Plan expands the experiments of the spec (default: experiments/ at a project
root, else the current directory)
into stages (model, data, train, eval, score, report), each once however
many cells share it, and prints every cell with its stages. With a cache
wired in, each stage shows whether it is cached or stale.

--record saves the planned keys as the baseline that 'crossin explain'
compares against (the runner records keys as it runs stages).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var opts []plan.Option
			if len(experiments) > 0 {
				opts = append(opts, plan.WithExperiments(experiments...))
			}
			_, p, err := loadPlan(cmd.Context(), args, smokeRun, opts...)
			if err != nil {
				return err
			}
			if record {
				dir, err := cachedir.Dir()
				if err != nil {
					return err
				}
				if err := plan.RecordsOf(dir, p).SavePlan(p); err != nil {
					return fmt.Errorf("recording keys: %w", err)
				}
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false)
				return enc.Encode(p)
			}
			printSmokeBanner(cmd.OutOrStdout(), p)
			PrintPlan(cmd.OutOrStdout(), p, verbose)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the plan as JSON")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "show action IDs")
	cmd.Flags().BoolVar(&record, "record", false, "record the planned keys for explain")
	cmd.Flags().BoolVar(&smokeRun, "smoke", false, smokeUsage)
	cmd.Flags().StringSliceVarP(&experiments, "experiment", "e", nil, "plan only these experiments")
	return cmd
}

// PrintPlan writes the plan as a tree: each experiment, each cell with its
// stages (a stage listed under an earlier cell is marked shared), the
// report, and a summary.
func PrintPlan(w io.Writer, p *plan.Plan, verbose bool) {
	width := 0
	for _, s := range p.Stages {
		width = max(width, len(s.ID))
	}
	printed := map[string]bool{}
	line := func(indent, id string) {
		s := p.Stage(id)
		var cols []string
		if printed[id] {
			cols = append(cols, "(shared)")
		} else {
			if s.Status != plan.StatusUnknown {
				cols = append(cols, string(s.Status))
			}
			if verbose {
				a := s.ActionID[:12]
				if s.Pending {
					a += " (pending inputs)"
				}
				cols = append(cols, a)
			}
		}
		printed[id] = true
		if len(cols) == 0 {
			fmt.Fprintf(w, "%s%s\n", indent, id)
			return
		}
		fmt.Fprintf(w, "%s%-*s  %s\n", indent, width+4-len(indent), id, strings.Join(cols, "  "))
	}
	for _, e := range p.Experiments {
		nb := 0
		if len(e.Cells) > 0 {
			nb = len(e.Cells[0].Stages.Evals)
		}
		fmt.Fprintf(w, "experiment %s: %d cells x %d benchmarks, backend %s\n", e.Name, len(e.Cells), nb, e.Backend)
		for _, c := range e.Cells {
			fmt.Fprintf(w, "  cell %s\n", c.ID)
			for _, id := range c.CellStageIDs() {
				line("    ", id)
			}
		}
		line("  ", e.Report)
	}
	counts := map[plan.Kind]int{}
	shared := 0
	for _, s := range p.Stages {
		counts[s.Kind]++
		if len(s.Cells) > 1 {
			shared++
		}
	}
	var parts []string
	for _, k := range plan.Kinds {
		parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
	}
	fmt.Fprintf(w, "%d stages (%d shared by several cells): %s\n", len(p.Stages), shared, strings.Join(parts, ", "))
	status := map[plan.Status]int{}
	for _, s := range p.Stages {
		status[s.Status]++
	}
	if status[plan.StatusUnknown] < len(p.Stages) {
		fmt.Fprintf(w, "%d cached, %d stale, %d unresolved\n", status[plan.StatusCached], status[plan.StatusStale], status[plan.StatusUnresolved])
	}
	// Unresolved references make keys provisional; say so once each.
	seen := map[string]bool{}
	var notes []string
	for _, s := range p.Stages {
		for _, u := range s.Unresolved {
			if !seen[u] {
				seen[u] = true
				notes = append(notes, u)
			}
		}
	}
	sort.Strings(notes)
	for _, n := range notes {
		fmt.Fprintf(w, "unresolved: %s\n", n)
	}
}
