package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/crossin-lab/crossin/hub"
	"github.com/crossin-lab/crossin/oci"
	"github.com/crossin-lab/crossin/runner/plan"
	"github.com/crossin-lab/crossin/schema"
)

// lockedFlag is the persistent --locked flag: every command that plans
// (plan, explain, run) then refuses image tags and hub branches that
// crossin.lock does not pin, instead of resolving them.
var lockedFlag bool

// lockCmd is `crossin lock`. The persistent --locked flag is the root's.
func lockCmd() *cobra.Command {
	var lockPath string
	var check bool
	cmd := &cobra.Command{
		Use:   "lock [SPEC...]",
		Short: "Pin every image and hub revision of the specs in crossin.lock",
		Long: `lock resolves every image reference (tags allowed) and hub revision
(branches allowed) the specs use, and writes them, pinned to digests and
commits, to crossin.lock beside the spec (or $CROSSIN_LOCK, or --lock). Plans
read pins from the lock, so a tag that moves in its registry changes nothing
until lock is run again. Commit the lock with the specs; ` + "`crossin run --locked`" + `
refuses anything it does not pin.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := schema.Load(specPaths(args)...)
			if err != nil {
				return err
			}
			req := oci.SpecRequirements(spec)
			if lockPath == "" {
				lockPath = oci.LockPath(spec)
			}
			l, err := oci.ReadLock(lockPath)
			if errors.Is(err, fs.ErrNotExist) {
				l, err = oci.NewLock(), nil
			}
			if err != nil {
				return err
			}
			if check {
				return l.Check(req)
			}
			ch, err := oci.NewClient().Relock(cmd.Context(), l, req, hubResolver{hub.NewClient()})
			if err != nil {
				return err
			}
			if err := l.Write(lockPath); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, c := range ch {
				if c.Old == "" {
					fmt.Fprintf(w, "pinned %s -> %s\n", c.What, c.New)
				} else {
					fmt.Fprintf(w, "moved  %s: %s -> %s\n", c.What, c.Old, c.New)
				}
			}
			fmt.Fprintf(w, "%s: %d images, %d hub revisions pinned (%d changed)\n", lockPath, len(req.Images), len(req.Hub), len(ch))
			return nil
		},
	}
	cmd.Flags().StringVar(&lockPath, "lock", "", "lock file to write (default: crossin.lock beside the spec, or $CROSSIN_LOCK)")
	cmd.Flags().BoolVar(&check, "check", false, "only check that the lock pins everything (no network, no write)")
	return cmd
}

// hubResolver adapts *hub.Client to oci.HubResolver.
type hubResolver struct{ c *hub.Client }

func (h hubResolver) Resolve(ctx context.Context, typ, repo, revision string) (string, error) {
	return h.c.Resolve(ctx, hub.RepoType(typ), repo, revision)
}

// lockPlanHook gives every plan resolvers that read crossin.lock: pinned
// references come from the lock (a moved tag changes no key until
// `crossin lock`), others are resolved live, or refused with --locked.
func lockPlanHook(ctx context.Context, spec *schema.Spec) ([]plan.Option, error) {
	path := oci.LockPath(spec)
	l, err := oci.ReadLock(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		l = oci.NewLock() // with --locked, every unpinned reference then fails
	case err != nil:
		return nil, err
	}
	hc := hubResolver{hub.NewClient()}
	return []plan.Option{
		plan.WithImageResolver(oci.NewClient().ImageResolver(l, lockedFlag)),
		plan.WithRevisionResolver(oci.RevisionResolver(l, lockedFlag, hc.Resolve)),
	}, nil
}
