package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/crossin-lab/crossin/runner/cache"
)

// cacheCmd is `crossin cache`: the local cache, and push/pull to a remote one.
func cacheCmd() *cobra.Command {
	g := &cobra.Command{Use: "cache", Short: "Inspect and manage the content-addressed cache of stage outputs"}
	g.PersistentFlags().String("dir", "", "cache directory (default $CROSSIN_CACHE or the user cache dir)")

	var lsJSON bool
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List cached stages (oldest first)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cacheOpen(cmd)
			if err != nil {
				return err
			}
			entries, errs := c.List()
			w := cmd.OutOrStdout()
			if lsJSON {
				enc := json.NewEncoder(w)
				for _, e := range entries {
					if err := enc.Encode(e); err != nil {
						return err
					}
				}
			} else {
				fmt.Fprintf(w, "%-12s  %-6s  %-40s  %9s  %8s  %s\n", "ACTION", "KIND", "STAGE", "SIZE", "TOOK", "CREATED")
				for _, e := range entries {
					fmt.Fprintf(w, "%-12s  %-6s  %-40s  %9s  %8s  %s\n", e.ActionID[:12], e.Kind, e.Stage,
						cacheBytes(e.Size), e.Duration.Round(time.Millisecond), e.Time.Local().Format("2006-01-02 15:04:05"))
				}
			}
			// A damaged entry is not absent: list it, and fail, so that
			// neither a person nor a script takes it for a missing stage.
			corrupt := 0
			for _, err := range errs {
				var ce *cache.CorruptError
				if !errors.As(err, &ce) {
					fmt.Fprintf(cmd.ErrOrStderr(), "%v\n", err)
					continue
				}
				corrupt++
				if lsJSON {
					fmt.Fprintf(cmd.ErrOrStderr(), "%v\n", err)
				} else {
					fmt.Fprintf(w, "%-12s  %-6s  %s\n", ce.ActionID[:12], "?", "corrupt: "+ce.Reason)
				}
			}
			if !lsJSON {
				n, size := c.Usage()
				fmt.Fprintf(w, "%d entries, %s in %s\n", n, cacheBytes(size), c.Dir())
			}
			if len(errs) > 0 {
				return fmt.Errorf("cache ls: %d entries could not be read (%d corrupt); run `crossin cache verify`", len(errs), corrupt)
			}
			return nil
		},
	}
	ls.Flags().BoolVar(&lsJSON, "json", false, "one JSON object per entry")

	verify := &cobra.Command{
		Use:   "verify",
		Short: "Re-hash every cached output; remove (so the next run rebuilds) any that is damaged",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cacheOpen(cmd)
			if err != nil {
				return err
			}
			ok, problems, verr := c.Verify()
			for _, p := range problems {
				fmt.Fprintf(cmd.OutOrStdout(), "corrupt  %s  %s: %s (removed)\n", p.ActionID[:12], p.Stage, p.Reason)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d entries ok, %d corrupt\n", ok, len(problems))
			if verr != nil {
				return fmt.Errorf("cache verify: some entries could not be checked:\n%w", verr)
			}
			if len(problems) > 0 {
				return fmt.Errorf("cache verify: %d corrupt entries removed; the next run rebuilds them", len(problems))
			}
			return nil
		},
	}

	var (
		keepDays float64
		force    bool
	)
	gc := &cobra.Command{
		Use:   "gc",
		Short: "Remove entries unused for --keep-days, unreferenced outputs and abandoned work",
		Long: `gc removes cache entries not used for --keep-days, output trees no entry
refers to, work directories of stages no process is running, and the
temporary files of writes a crash interrupted.

--keep-days 0 removes every entry, which throws away all finished work: it
asks first when stdin is a terminal, and otherwise needs --force.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if keepDays < 0 {
				return Usagef("--keep-days must be >= 0")
			}
			c, err := cacheOpen(cmd)
			if err != nil {
				return err
			}
			if keepDays == 0 && !force {
				n, size := c.Usage()
				if !stdinIsTerminal(cmd.InOrStdin()) {
					return Usagef("cache gc --keep-days 0 removes every entry (%d, %s in %s); add --force to do so without a terminal", n, cacheBytes(size), c.Dir())
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "remove every cache entry (%d, %s in %s)? [y/N] ", n, cacheBytes(size), c.Dir())
				answer, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
					return errors.New("cache gc: nothing removed")
				}
			}
			l, err := c.Exclusive(cmd.Context(), func() {
				fmt.Fprintln(cmd.ErrOrStderr(), "waiting for running crossin processes to finish...")
			})
			if err != nil {
				return err
			}
			defer l.Unlock()
			st, gcErr := c.GC(time.Duration(keepDays * 24 * float64(time.Hour)))
			fmt.Fprintf(cmd.OutOrStdout(), "removed %d entries, %d outputs (%s), %d abandoned work dirs, %d temp files; kept %d entries (%s)\n",
				st.Entries, st.Outputs, cacheBytes(st.Bytes), st.WorkDirs, st.TempFiles, st.KeptEntries, cacheBytes(st.KeptBytes))
			if gcErr != nil {
				return fmt.Errorf("cache gc: not everything could be collected:\n%w", gcErr)
			}
			return nil
		},
	}
	gc.Flags().Float64Var(&keepDays, "keep-days", 30, "keep entries used within this many days (0 removes all: asks, or needs --force)")
	gc.Flags().BoolVarP(&force, "force", "f", false, "with --keep-days 0, remove every entry without asking")

	var all bool
	rm := &cobra.Command{
		Use:   "rm [ACTION-PREFIX|STAGE]...",
		Short: "Remove cache entries by action ID prefix or stage name (--all: everything)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) > 0) {
				return Usagef("cache rm: give stage names or action ID prefixes, or --all")
			}
			c, err := cacheOpen(cmd)
			if err != nil {
				return err
			}
			l, err := c.Exclusive(cmd.Context(), func() {
				fmt.Fprintln(cmd.ErrOrStderr(), "waiting for running crossin processes to finish...")
			})
			if err != nil {
				return err
			}
			defer l.Unlock()
			if all {
				st, err := c.GC(0)
				fmt.Fprintf(cmd.OutOrStdout(), "removed %d entries, %d outputs (%s)\n", st.Entries, st.Outputs, cacheBytes(st.Bytes))
				if err != nil {
					return fmt.Errorf("cache rm: not everything could be removed:\n%w", err)
				}
				return nil
			}
			removed := 0
			var missing []string
			for _, a := range args {
				es := c.Find(a)
				if len(es) == 0 {
					missing = append(missing, a)
					continue
				}
				for _, e := range es {
					if err := c.Remove(e.ActionID); err == nil {
						removed++
						fmt.Fprintf(cmd.OutOrStdout(), "removed %s  %s\n", e.ActionID[:12], e.Stage)
					}
				}
			}
			if len(missing) > 0 {
				return fmt.Errorf("cache rm: no entry matches %s (see `crossin cache ls`)", strings.Join(missing, ", "))
			}
			return nil
		},
	}
	rm.Flags().BoolVar(&all, "all", false, "remove every entry and output")

	dir := &cobra.Command{
		Use:   "dir",
		Short: "Print the cache directory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cacheOpen(cmd)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), c.Dir())
			return nil
		},
	}
	g.AddCommand(ls, verify, gc, rm, dir)
	g.AddCommand(cacheRemoteCmds()...)
	return g
}

// stdinIsTerminal says whether gc may ask on stdin; tests replace it.
var stdinIsTerminal = isTerminal

// cacheOpen opens the cache named by --dir (if the command has it) or the
// default one.
func cacheOpen(cmd *cobra.Command) (*cache.Cache, error) {
	if f := cmd.Flags().Lookup("dir"); f != nil && f.Value.String() != "" {
		return cache.Open(f.Value.String())
	}
	return cache.OpenDefault()
}

func cacheBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
