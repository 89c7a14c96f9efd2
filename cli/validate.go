package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

// validateCmd is `crossin validate`.
func validateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate [PATH...]",
		Short: "Check spec files against the schema",
		Long: `Validate loads the CUE spec files and directories given (default:
experiments/ at a project root, else the current directory), unifies them with crossin's schema and checks names,
constraints and that the local files they refer to exist; then it reads the
local data and benchmark files and checks what would fail at run time
(formats, UTF-8, volumes, benchmark languages, what the trainer can train).
Every problem is reported as file:line:col.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := loadSpec(args, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			cells := 0
			for _, e := range spec.Experiments {
				cells += len(e.Cells)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %d files, %d models, %d data sources, %d mixtures, %d benchmarks, %d experiments, %d cells\n",
				len(spec.Files), len(spec.Models), len(spec.Data), len(spec.Mixtures), len(spec.Benchmarks), len(spec.Experiments), cells)
			return nil
		},
	}
}

// DefaultSpecDir is where commands look for the spec when given no PATH:
// experiments/ when the working directory has one and no .cue files of its
// own (the repository root, where the README's commands are typed), else
// the working directory.
const DefaultSpecDir = "experiments"

// specPaths defaults the spec arguments (see DefaultSpecDir).
func specPaths(args []string) []string {
	if len(args) > 0 {
		return args
	}
	if own, _ := filepath.Glob("*.cue"); len(own) == 0 {
		if fi, err := os.Stat(DefaultSpecDir); err == nil && fi.IsDir() {
			return []string{DefaultSpecDir}
		}
	}
	return []string{"."}
}
