package cli

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

// versionCmd is `crossin version` (`crossin --version` prints the same).
func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print crossin's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), versionLine())
			return nil
		},
	}
}

// versionLine is what `crossin version` and `crossin --version` print.
func versionLine() string {
	return fmt.Sprintf("crossin %s %s %s/%s", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
