// Package cli is crossin's command-line shell. Every command is a thin
// wrapper over a library call; errors are returned, never printed, and Main
// prints each one exactly once with its source positions.
//
// Commands live one group per file and add themselves to the root in init,
// so the groups can grow independently.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit codes, as documented in the README.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// Version is the crossin version; release builds set it with -ldflags -X.
var Version = "devel"

// root is the top of the command tree. Command files add to it in init.
var root = &cobra.Command{
	Use:           "crossin",
	Short:         "Cross-lingual instruction tuning (CrossIn) experiments as code",
	SilenceErrors: true,
	SilenceUsage:  true,
	// CompletionOptions: crossin ships no shell completion yet.
	CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
}

// UsageError marks an error in how crossin was called (exit code 2).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError with a formatted message.
func Usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// ErrorFormatter renders an error for the terminal. The foundation installs
// one that knows CUE positions; others may wrap it.
var ErrorFormatter = func(err error, cwd string) string { return err.Error() }

func init() {
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &UsageError{Err: err}
	})
}

// Main runs crossin with os.Args and returns the process exit code.
func Main() int {
	return Run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
}

// Run runs one crossin invocation with explicit streams; tests use it.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	resetCommands(root, ctx)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	cwd, _ := os.Getwd()
	fmt.Fprintln(stderr, ErrorFormatter(err, cwd))
	var ue *UsageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		return ExitUsage
	}
	return ExitFailure
}

// resetCommands makes a second Run in the same process (tests, watch)
// behave like a fresh process: cobra keeps each command's first context
// and its flag values, and slice flags would append to the previous run's.
func resetCommands(c *cobra.Command, ctx context.Context) {
	c.SetContext(ctx)
	reset := func(f *pflag.Flag) {
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			var def []string
			if d := strings.Trim(f.DefValue, "[]"); d != "" {
				def = strings.Split(d, ",")
			}
			_ = sv.Replace(def)
		} else {
			_ = f.Value.Set(f.DefValue)
		}
		f.Changed = false
	}
	c.Flags().VisitAll(reset)
	c.PersistentFlags().VisitAll(reset)
	for _, sub := range c.Commands() {
		resetCommands(sub, ctx)
	}
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

// AddCommand adds a top-level command. Command files call it from init.
func AddCommand(c *cobra.Command) { root.AddCommand(c) }

// Group returns the top-level command named name, creating an empty parent
// command (like "model" or "cache") the first time, so that several files
// can add subcommands to one group.
func Group(name, short string) *cobra.Command {
	for _, c := range root.Commands() {
		if c.Name() == name {
			return c
		}
	}
	g := &cobra.Command{Use: name, Short: short}
	root.AddCommand(g)
	return g
}
