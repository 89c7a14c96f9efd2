package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crossin-lab/crossin/internal/cachedir"
	"github.com/crossin-lab/crossin/runner/plan"
)

// explainCmd is `crossin explain`.
func explainCmd() *cobra.Command {
	var asJSON, smokeRun bool
	cmd := &cobra.Command{
		Use:   "explain CELL-or-STAGE [PATH...]",
		Short: "Say why a cell or stage would re-run",
		Long: `Explain compares the current key of a stage (or of every stage of a cell,
named EXPERIMENT/CELL or just CELL when unique) with the key recorded when
it last ran, and names the components and fields that differ. A changed
input is traced to the upstream stage that changed it.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, p, err := loadPlan(cmd.Context(), args[1:], smokeRun)
			if err != nil {
				return err
			}
			dir, err := cachedir.Dir()
			if err != nil {
				return err
			}
			ex, err := plan.Explain(p, plan.RecordsOf(dir, p), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false)
				return enc.Encode(ex)
			}
			PrintExplanations(cmd.OutOrStdout(), p, ex)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the explanation as JSON")
	cmd.Flags().BoolVar(&smokeRun, "smoke", false, "explain the spec's smoke run (crossin run --smoke), against the smoke run's records")
	return cmd
}

// PrintExplanations writes one block per stage: unchanged, never
// recorded, or the changed fields, with changed inputs traced upstream.
func PrintExplanations(w io.Writer, p *plan.Plan, ex []plan.Explanation) {
	for _, e := range ex {
		switch {
		case !e.Recorded:
			fmt.Fprintf(w, "%s: no record (never run or recorded)\n", e.Stage)
			continue
		case e.Unchanged():
			fmt.Fprintf(w, "%s: unchanged\n", e.Stage)
			continue
		}
		fmt.Fprintf(w, "%s: changed\n", e.Stage)
		s := p.Stage(e.Stage)
		shown := map[string]bool{} // an input can differ in several fields; name it once
		for _, c := range e.Changes {
			if plan.IsInput(c.Component) {
				name := strings.TrimPrefix(c.Component, plan.InputPrefix)
				if shown[name] {
					continue
				}
				shown[name] = true
				up := ""
				for _, in := range s.Inputs {
					if in.Name == name {
						up = in.Stage
					}
				}
				if up != "" {
					fmt.Fprintf(w, "  input %s: upstream %s changed\n", name, up)
				} else {
					fmt.Fprintf(w, "  input %s: %s\n", name, c)
				}
				continue
			}
			fmt.Fprintf(w, "  %s\n", c)
		}
	}
}
