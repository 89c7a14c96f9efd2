package cli

import "github.com/spf13/cobra"

// outputFlag defines -o/--output, which means the same in every command:
// where the command writes what it produces (a file, or for run and watch
// a directory). --out, run's former name, is kept as a hidden alias.
func outputFlag(cmd *cobra.Command, out *string, def, usage string) {
	cmd.Flags().StringVarP(out, "output", "o", def, usage)
	cmd.Flags().StringVar(out, "out", def, usage)
	_ = cmd.Flags().MarkHidden("out")
}
