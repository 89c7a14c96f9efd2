package cli

import (
	"context"
	"fmt"
	"os"
	"slices"

	"github.com/crossin-lab/crossin/oci"
	"github.com/crossin-lab/crossin/runner"
	"github.com/crossin-lab/crossin/schema"
)

// ociRemote is the runner's remote cache backed by an OCI registry: stage
// outputs are artifacts tagged by ActionID (see oci.PushCache).
type ociRemote struct {
	c    *oci.Client
	repo string
}

func (r ociRemote) Fetch(ctx context.Context, actionID, dest string) (bool, error) {
	ok, err := r.c.HasCache(ctx, r.repo, actionID)
	if err != nil || !ok {
		return false, err
	}
	if _, err := r.c.PullCache(ctx, r.repo, actionID, dest); err != nil {
		return false, err
	}
	return true, nil
}

func (r ociRemote) Store(ctx context.Context, actionID, dir string, meta map[string]string) error {
	if ok, err := r.c.HasCache(ctx, r.repo, actionID); err == nil && ok {
		return nil
	}
	_, err := r.c.PushCache(ctx, r.repo, actionID, dir, meta)
	return err
}

// remoteFor picks the remote cache of a run: --remote, else
// $CROSSIN_REMOTE_CACHE, else the `remote` the experiments being run
// declare (they must agree). Nil means none.
func remoteFor(spec *schema.Spec, experiments []string, flag string) (runner.RemoteCache, error) {
	repo := flag
	if repo == "" {
		repo = os.Getenv("CROSSIN_REMOTE_CACHE")
	}
	if repo == "" {
		var from *schema.Experiment
		for _, e := range spec.Experiments {
			if len(experiments) > 0 && !slices.Contains(experiments, e.Name) || e.Remote == "" {
				continue
			}
			if from != nil && e.Remote != repo {
				return nil, fmt.Errorf("%s: experiments %q and %q name different remote caches (%s, %s); run them separately or pass --remote", e.Pos, from.Name, e.Name, repo, e.Remote)
			}
			from, repo = e, e.Remote
		}
	}
	if repo == "" {
		return nil, nil
	}
	c := oci.NewClient()
	if _, err := c.ParseRepository(repo); err != nil {
		return nil, Usagef("remote cache: %v", err)
	}
	return ociRemote{c: c, repo: repo}, nil
}
