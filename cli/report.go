package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crossin-lab/crossin/atomicfile"
	"github.com/crossin-lab/crossin/reports"
	"github.com/crossin-lab/crossin/resultset"
	"github.com/crossin-lab/crossin/runner"
)

// reportCmd is `crossin report`.
func reportCmd() *cobra.Command {
	var (
		layout, format, out, resultsFile, experiment string
		smokeRun                                     bool
	)
	cmd := &cobra.Command{
		Use:   "report [PATH...]",
		Short: "Render an experiment's comparison tables from cached results (never runs anything)",
		Long: `Render the comparison tables of the experiments in PATH (CUE files or
directories) from results already in the cache; cells not run yet are shown
as missing, failed ones as failed, never as zeros. With --results, render a
results.json written by 'crossin run' instead.

Formats: term (default), md, latex, csv, json, html (a self-contained page
with the tables and plots). Layouts: the experiment's declared ones plus the
built-in main, volume and languages.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(reports.Formats, format) && format != "markdown" && format != "tex" {
				return Usagef("--format: unknown format %q, want one of %s", format, strings.Join(reports.Formats, ", "))
			}
			var (
				set     *resultset.Set
				layouts = reports.DefaultLayouts()
				err     error
				corrupt *runner.CorruptResultsError
			)
			switch {
			case resultsFile != "":
				if len(args) > 0 {
					return Usagef("give either PATH or --results, not both")
				}
				set, err = readResults(resultsFile)
				if err == nil && len(set.Layout) > 0 {
					// The table written beside results.json: its
					// layout is the default, so that the same file
					// renders the same table.
					var rl reports.Layout
					if rl, err = reports.SetLayout(set); err == nil {
						layouts = append([]reports.Layout{rl}, withoutLayout(layouts, rl.Name)...)
						if !cmd.Flags().Changed("layout") {
							layout = rl.Name
						}
					}
				}
			default:
				set, layouts, err = reportResults(args, experiment, smokeRun)
				// Corrupt cached results were removed: the table is still
				// rendered (their rows missing), and the command fails.
				if errors.As(err, &corrupt) {
					err = nil
				}
			}
			if err != nil {
				return err
			}
			chosen, err := chooseLayouts(layouts, layout)
			if err != nil {
				return err
			}
			write := func(w io.Writer) error {
				for i, l := range chosen {
					if i > 0 {
						fmt.Fprintln(w)
					}
					if err := reports.Write(w, set, l, format); err != nil {
						return err
					}
				}
				return nil
			}
			if out != "" {
				// Atomically, with the permissions of any file the user
				// writes (0666 less the umask), not a temp file's 0600.
				err = atomicfile.WriteFunc(out, 0o666, write)
			} else {
				err = write(cmd.OutOrStdout())
			}
			if err != nil {
				return err
			}
			if corrupt != nil {
				for _, e := range corrupt.Errs {
					fmt.Fprintf(cmd.ErrOrStderr(), "corrupt  %s\n", e)
				}
				return corrupt
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&layout, "layout", "main", "layout name, or \"all\" for every layout in turn")
	cmd.Flags().StringVar(&format, "format", reports.FormatTerm, "term, md, latex, csv, json or html")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to this file (atomically) instead of stdout")
	cmd.Flags().StringVar(&resultsFile, "results", "", "render this results.json instead of reading the cache")
	cmd.Flags().StringVarP(&experiment, "experiment", "e", "", "experiment name (needed when PATH has several)")
	cmd.Flags().BoolVar(&smokeRun, "smoke", false, "render the results of the spec's smoke run (crossin run --smoke)")
	return cmd
}

// withoutLayout drops the layout named name from ls.
func withoutLayout(ls []reports.Layout, name string) []reports.Layout {
	var out []reports.Layout
	for _, l := range ls {
		if l.Name != name {
			out = append(out, l)
		}
	}
	return out
}

// readResults reads a results.json (resultset.Set).
func readResults(path string) (*resultset.Set, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var set resultset.Set
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("%s: not a crossin results file: %w", path, err)
	}
	return &set, nil
}

// chooseLayouts returns the layout named name, or for "all" every layout
// once (the first of each name: declared layouts come before built-ins).
func chooseLayouts(layouts []reports.Layout, name string) ([]reports.Layout, error) {
	if name != "all" {
		l, err := reports.FindLayout(layouts, name)
		if err != nil {
			return nil, Usagef("%v", err)
		}
		return []reports.Layout{l}, nil
	}
	var out []reports.Layout
	seen := map[string]bool{}
	for _, l := range layouts {
		if !seen[l.Name] {
			seen[l.Name] = true
			out = append(out, l)
		}
	}
	return out, nil
}
