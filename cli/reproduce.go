package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/crossin-lab/crossin/provenance"
	"github.com/crossin-lab/crossin/runner"
	"github.com/crossin-lab/crossin/runner/cache"
)

func reproduceCmd() *cobra.Command {
	var (
		asJSON   bool
		smokeRun bool
		cacheDir string
		out      string
		jobs     int
	)
	cmd := &cobra.Command{
		Use:   "reproduce RESULTS.json",
		Short: "Re-run a results.json from scratch in a fresh cache and compare byte for byte",
		Long: `Reproduce re-runs the experiment a results.json records, from the spec it
records (read at the recorded git commit when the spec files changed since;
images and hub revisions as pinned), into a fresh cache, and compares the
new results with the record byte for byte: every row with its score and the
keys and outputs of the stages behind it. Rows that differ are named with
the fields that differ; the exit status is 0 only when the results are
identical.

The fresh cache is a temporary directory removed afterwards unless --cache
names one (which must be empty or absent); the new results are written to
-o DIR/EXPERIMENT (default: a temporary directory, removed afterwards).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rec, spec, src, smokeOpts, err := recordSpec(args[0], smokeRun)
			if err != nil {
				return err
			}
			defer src.Cleanup()
			if cacheDir == "" {
				d, err := os.MkdirTemp("", "crossin-reproduce-cache-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(d)
				cacheDir = d
			} else if ents, err := os.ReadDir(cacheDir); err == nil && len(ents) > 0 {
				return Usagef("--cache %s is not empty: reproduce needs a fresh cache", cacheDir)
			}
			if out == "" {
				d, err := os.MkdirTemp("", "crossin-reproduce-out-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(d)
				out = d
			}
			c, err := cache.Open(cacheDir)
			if err != nil {
				return err
			}
			popts, err := planOptions(cmd.Context(), c.Dir(), spec)
			if err != nil {
				return err
			}
			popts = append(popts, smokeOpts...)
			backends, err := backendsFor(cmd.Context(), spec, c.Dir(), []string{rec.Experiment})
			if err != nil {
				return err
			}
			prov, pins, err := recordProvenance(spec)
			if err != nil {
				return err
			}
			prov.Smoke = len(smokeOpts) > 0
			var events func(runner.Event)
			if !asJSON {
				events = runner.PlainEvents(cmd.ErrOrStderr())
			}
			r, err := provenance.Reproduce(cmd.Context(), rec, spec, runner.RunOptions{
				Cache:       c,
				Jobs:        jobs,
				OutDir:      out,
				Events:      events,
				Version:     Version,
				PlanOptions: popts,
				Backends:    backends,
				Provenance:  prov,
				Pins:        pins,
			})
			if r == nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false)
				if err := enc.Encode(r); err != nil {
					return err
				}
			} else {
				printReproduction(w, args[0], r)
			}
			if err != nil {
				return err
			}
			if !r.Identical {
				return fmt.Errorf("%s: not reproduced: %d of %d rows differ", args[0], len(r.Rows), len(rec.Rows))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&smokeRun, "smoke", false, "re-run the spec's smoke run (implied when the record is of one)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the comparison as JSON (progress is not shown)")
	cmd.Flags().StringVar(&cacheDir, "cache", "", "fresh cache directory to run in (default: a temporary one)")
	outputFlag(cmd, &out, "", "directory for the new results (default: a temporary one)")
	cmd.Flags().IntVarP(&jobs, "jobs", "j", 0, "stages to run at once (default: number of CPUs)")
	return cmd
}

func printReproduction(w io.Writer, path string, r *provenance.Reproduction) {
	fmt.Fprintf(w, "reproduce %s: experiment %s, %d stages ran, %d cached\n", path, r.Experiment, r.Ran, r.Cached)
	for _, f := range r.Other {
		fmt.Fprintf(w, "  differs  %s\n", f)
	}
	for _, d := range r.Rows {
		fmt.Fprintf(w, "  differs  %s %s (row %d)\n", d.Cell, d.Benchmark, d.Row+1)
		for _, f := range d.Fields {
			fmt.Fprintf(w, "      %s\n", f)
		}
	}
	if r.Identical {
		fmt.Fprintf(w, "identical: %s (byte for byte)\n", r.New)
	} else {
		fmt.Fprintf(w, "recorded %s, reproduced %s\n", r.Recorded, r.New)
	}
}
