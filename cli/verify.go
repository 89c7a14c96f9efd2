package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crossin-lab/crossin/provenance"
	"github.com/crossin-lab/crossin/runner/cache"
)

func verifyCmd() *cobra.Command {
	var (
		asJSON     bool
		smokeRun   bool
		remoteRepo string
	)
	cmd := &cobra.Command{
		Use:   "verify RESULTS.json",
		Short: "Check a results.json against its recorded spec and the cache, without running anything",
		Long: `Verify re-derives the key of every stage behind each row of a results.json
from the spec it records (read at the recorded git commit when the spec
files changed since), feeding each stage the recorded outputs of its
inputs, and looks the recorded outputs up in the local cache ($CROSSIN_CACHE)
and, with --remote or $CROSSIN_REMOTE_CACHE or the experiment's remote, the
remote cache. Each row is:

  verified      every key re-derives, the caches hold exactly the recorded
                outputs, and the score read from them is the recorded one
  would re-run  a key differs (with explain's reason) or an output is in
                neither cache
  mismatch      a recorded value differs from the spec or the cache; the
                field is named
  unpinned      the row depends on a tag or branch that may move
  unrecorded    the row has no provenance or no score

Run it where the record was made (paths are relative to the git root, or to
the working directory outside git). The exit status is 0 only when every
row is verified and the record's digest matches its rows.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rec, spec, src, smokeOpts, err := recordSpec(args[0], smokeRun)
			if err != nil {
				return err
			}
			defer src.Cleanup()
			c, err := cache.OpenDefault()
			if err != nil {
				return err
			}
			popts, err := planOptions(cmd.Context(), c.Dir(), spec)
			if err != nil {
				return err
			}
			popts = append(popts, smokeOpts...)
			pins, err := lockPins(spec)
			if err != nil {
				return err
			}
			opts := []provenance.Option{provenance.WithCache(c), provenance.WithPlanOptions(popts...),
				provenance.WithPins(pins), provenance.WithSpecSource(src)}
			remote, err := remoteFor(spec, []string{rec.Experiment}, remoteRepo)
			if err != nil {
				return err
			}
			if remote != nil {
				opts = append(opts, provenance.WithRemote(remote))
			}
			v, err := provenance.Verify(cmd.Context(), rec, spec, opts...)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false)
				if err := enc.Encode(v); err != nil {
					return err
				}
			} else {
				printVerification(out, args[0], v)
			}
			if !v.OK() {
				return fmt.Errorf("%s: not verified (%s)", args[0], countLine(v))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&smokeRun, "smoke", false, "check against the spec's smoke run (implied when the record is of one)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the verification as JSON")
	cmd.Flags().StringVar(&remoteRepo, "remote", "", "remote cache REGISTRY/REPOSITORY to check too (default $CROSSIN_REMOTE_CACHE, else the experiment's remote)")
	return cmd
}

// printVerification writes one line per row (verdict, row, first
// reason) with further reasons and mismatched fields indented below.
func printVerification(w io.Writer, path string, v *provenance.Verification) {
	where := "spec: working tree"
	if v.Spec != nil {
		where = "spec: " + v.Spec.Where
		if len(v.Spec.Changed) > 0 && !strings.HasPrefix(v.Spec.Where, "commit") {
			where += "; changed: " + strings.Join(v.Spec.Changed, ", ")
		}
	}
	fmt.Fprintf(w, "%s: experiment %s (%s)\n", path, v.Experiment, where)
	for _, r := range v.Rows {
		fmt.Fprintf(w, "  %-12s  %s\n", r.Verdict, r.Name())
		for _, m := range r.Mismatches {
			fmt.Fprintf(w, "      %s\n", m)
		}
		for _, reason := range r.Reasons {
			fmt.Fprintf(w, "      %s\n", reason)
		}
	}
	if v.DigestOK() {
		fmt.Fprintf(w, "digest: %s matches the rows\n", v.Digest.Found)
	} else {
		fmt.Fprintf(w, "digest: recorded %s, the rows hash to %s\n", v.Digest.Recorded, v.Digest.Found)
	}
	fmt.Fprintln(w, countLine(v))
}

// countLine summarises the verdicts: "9 rows: 7 verified, 2 mismatch".
func countLine(v *provenance.Verification) string {
	n := v.Counts()
	var parts []string
	for _, k := range []provenance.Verdict{provenance.Verified, provenance.Mismatch, provenance.WouldRerun, provenance.Unpinned, provenance.Unrecorded} {
		if n[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[k], k))
		}
	}
	s := fmt.Sprintf("%d rows: %s", len(v.Rows), strings.Join(parts, ", "))
	if !v.DigestOK() {
		s += "; digest does not match"
	}
	return s
}
