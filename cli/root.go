// Package cli is crossin's command-line shell. Every command is a thin
// wrapper over a library call; errors are returned, never printed, and Main
// prints each one exactly once with its source positions.
//
// Commands live one group per file; each file exposes a constructor and
// newRoot lists them all, so the command tree is built afresh for every
// Run and holds no state between runs.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/crossin-lab/crossin/runner/plan"
)

// Exit codes, as documented in the README.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// Version is the crossin version; release builds set it with -ldflags -X.
var Version = "devel"

// newRoot builds crossin's command tree: every top-level command, and the
// flags every command shares.
func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "crossin",
		Short:         "Cross-lingual instruction tuning (CrossIn) experiments as code",
		SilenceErrors: true,
		SilenceUsage:  true,
		// CompletionOptions: crossin ships no shell completion yet.
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &UsageError{Err: err}
	})
	root.PersistentFlags().BoolVar(&lockedFlag, "locked", false, "refuse image tags and hub revisions not pinned in crossin.lock")
	root.AddCommand(
		benchCmd(),
		cacheCmd(),
		dataCmd(),
		explainCmd(),
		hubCmd(),
		imageCmd(),
		lockCmd(),
		logsCmd(),
		modelCmd(),
		planCmd(),
		reportCmd(),
		reproduceCmd(),
		runCmd(),
		scoreCmd(),
		trainerCmd(),
		validateCmd(),
		verifyCmd(),
		versionCmd(),
		watchCmd(),
	)
	// --version prints what `crossin version` does.
	root.Version = Version
	root.SetVersionTemplate(versionLine() + "\n")
	for _, c := range root.Commands() {
		usageForUnknownSubcommands(c)
	}
	return root
}

// usageForUnknownSubcommands makes a group command (cache, model, ...)
// given an unknown subcommand fail with a usage error (exit 2): cobra
// would print the group's help and exit 0, so a mistyped command would
// look like a success to a script.
func usageForUnknownSubcommands(c *cobra.Command) {
	if c.HasSubCommands() && !c.Runnable() {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return Usagef("unknown command %q for %q (see '%s --help')", args[0], cmd.CommandPath(), cmd.CommandPath())
			}
			return cmd.Help()
		}
	}
	for _, sub := range c.Commands() {
		usageForUnknownSubcommands(sub)
	}
}

// UsageError marks an error in how crossin was called (exit code 2).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError with a formatted message.
func Usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// Main runs crossin with os.Args and returns the process exit code.
func Main() int {
	return Run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
}

// Run runs one crossin invocation with explicit streams; tests use it.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	cwd, _ := os.Getwd()
	fmt.Fprintln(stderr, formatError(err, cwd))
	var ue *UsageError
	var unknown *plan.UnknownExperimentError // a bad -e value
	if errors.As(err, &ue) || errors.As(err, &unknown) || isCobraUsage(err) {
		return ExitUsage
	}
	return ExitFailure
}

// isCobraUsage reports whether err is one of cobra's own argument errors
// (unknown command, wrong number of arguments), which it does not type.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "requires at most", "unknown flag", "unknown shorthand", "invalid argument"} {
		if len(msg) >= len(p) && contains(msg, p) {
			return true
		}
	}
	return false
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
