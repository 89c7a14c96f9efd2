package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crossin-lab/crossin/oci"
	"github.com/crossin-lab/crossin/runner/cache"
)

// remoteFlag returns --remote or $CROSSIN_REMOTE_CACHE.
func remoteFlag(cmd *cobra.Command) (string, error) {
	r, _ := cmd.Flags().GetString("remote")
	if r == "" {
		r = os.Getenv("CROSSIN_REMOTE_CACHE")
	}
	if r == "" {
		return "", Usagef("%s: no remote cache: pass --remote REGISTRY/REPOSITORY or set CROSSIN_REMOTE_CACHE", cmd.CommandPath())
	}
	return r, nil
}

// cacheRemoteCmds are `crossin cache push` and `crossin cache pull`.
func cacheRemoteCmds() []*cobra.Command {
	push := &cobra.Command{
		Use:   "push [ACTION|STAGE...]",
		Short: "Upload cached stage outputs to a registry as OCI artifacts",
		Long: `push stores each cache entry (all of them when none is named) in the remote
repository as an OCI artifact tagged action-<ActionID>: one raw layer per
output file, the ActionID in the annotations. Each entry is verified locally
first; entries the remote already has are skipped.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			remote, err := remoteFlag(cmd)
			if err != nil {
				return err
			}
			c, err := cacheOpen(cmd)
			if err != nil {
				return err
			}
			var entries []*cache.Entry
			if len(args) == 0 {
				entries, _ = c.List()
			} else {
				for _, a := range args {
					found := c.Find(a)
					if len(found) == 0 {
						return fmt.Errorf("cache push: no cache entry matches %q (see `crossin cache ls`)", a)
					}
					entries = append(entries, found...)
				}
			}
			oc := oci.NewClient()
			w := cmd.OutOrStdout()
			pushed, skipped := 0, 0
			for _, e := range entries {
				if ok, err := oc.HasCache(cmd.Context(), remote, e.ActionID); err != nil {
					return err
				} else if ok {
					skipped++
					continue
				}
				v, err := c.Get(e.ActionID) // re-hash before sharing
				if err != nil {
					return fmt.Errorf("cache push %s: %w", e.ActionID[:12], err)
				}
				meta := map[string]string{"output": v.OutputID, "stage": v.Stage, "kind": v.Kind, "engine": v.Engine}
				ref, err := oc.PushCache(cmd.Context(), remote, v.ActionID, c.OutputDir(v.OutputID), meta)
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "pushed %s %s -> %s\n", v.ActionID[:12], v.Stage, ref)
				pushed++
			}
			fmt.Fprintf(w, "%d pushed, %d already in %s\n", pushed, skipped, remote)
			return nil
		},
	}
	push.Flags().String("remote", "", "remote cache repository (default $CROSSIN_REMOTE_CACHE)")

	var all bool
	pull := &cobra.Command{
		Use:   "pull ACTION... | --all",
		Short: "Download stage outputs from a registry into the local cache",
		Long: `pull fetches the entries of the given ActionIDs (or every entry with --all)
from the remote repository, verifies every blob against its digest and the
output tree against the OutputID recorded at push, and stores them in the
local cache, so the next run reuses them instead of recomputing.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			remote, err := remoteFlag(cmd)
			if err != nil {
				return err
			}
			if all == (len(args) > 0) {
				return Usagef("cache pull: name ActionIDs or pass --all (not both)")
			}
			c, err := cacheOpen(cmd)
			if err != nil {
				return err
			}
			oc := oci.NewClient()
			ids := args
			if all {
				if ids, err = oc.ListCache(cmd.Context(), remote); err != nil {
					return err
				}
			}
			w := cmd.OutOrStdout()
			got, have := 0, 0
			for _, id := range ids {
				id = cache.NormalizeID(id)
				if _, ok := c.Lookup(id); ok {
					have++
					continue
				}
				tmp, err := os.MkdirTemp(filepath.Join(c.Dir(), "tmp"), "pull-")
				if err != nil {
					return err
				}
				dir := filepath.Join(tmp, "out")
				e, err := oc.PullCache(cmd.Context(), remote, id, dir)
				if err != nil {
					os.RemoveAll(tmp)
					return err
				}
				meta := cache.Meta{Stage: e.Meta["stage"], Kind: e.Meta["kind"], Engine: e.Meta["engine"]}
				ent, err := c.Put(id, dir, meta)
				os.RemoveAll(tmp)
				if err != nil {
					return err
				}
				if want := e.Meta["output"]; want != "" && cache.NormalizeID(want) != ent.OutputID {
					c.Remove(id)
					return fmt.Errorf("cache pull %s: outputs hash to %s, the pushing cache recorded %s; entry discarded", id[:min(12, len(id))], ent.OutputID, want)
				}
				fmt.Fprintf(w, "pulled %s %s\n", id[:min(12, len(id))], strings.TrimSpace(ent.Stage))
				got++
			}
			fmt.Fprintf(w, "%d pulled, %d already cached\n", got, have)
			return nil
		},
	}
	pull.Flags().String("remote", "", "remote cache repository (default $CROSSIN_REMOTE_CACHE)")
	pull.Flags().BoolVar(&all, "all", false, "pull every entry the remote holds")
	return []*cobra.Command{push, pull}
}
