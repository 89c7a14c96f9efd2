package oci

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/crossin-lab/crossin/schema"
)

// LockPath is the lock file of spec: $CROSSIN_LOCK, else crossin.lock
// beside the spec's files (committed with them, as go.sum is next to
// go.mod), so that `crossin lock experiments/` and `crossin run
// experiments/` find the same lock from any working directory.
func LockPath(spec *schema.Spec) string {
	if p := getenv("CROSSIN_LOCK"); p != "" {
		return p
	}
	if spec != nil && len(spec.Files) > 0 {
		return filepath.Join(filepath.Dir(spec.Files[0]), LockFile)
	}
	return LockFile
}

// SpecRequirements lists every image and hub revision spec refers to:
// backend images (container, slurm), hub models ("model") and hub data
// sources and benchmarks ("dataset"). References already pinned in the
// spec (name@sha256:..., 40-hex commits) are left out: they need no lock.
func SpecRequirements(spec *schema.Spec) Requirements {
	var req Requirements
	seenI := map[string]bool{}
	for _, b := range spec.Backends {
		if b.Image == "" || isPinnedRef(b.Image) || seenI[b.Image] {
			continue
		}
		seenI[b.Image] = true
		req.Images = append(req.Images, b.Image)
	}
	seenH := map[HubRef]bool{}
	add := func(typ string, h *schema.Hub) {
		if h == nil || commitRE.MatchString(h.Revision) {
			return
		}
		r := HubRef{Type: typ, Repo: h.Repo, Revision: h.Revision}
		if !seenH[r] {
			seenH[r] = true
			req.Hub = append(req.Hub, r)
		}
	}
	for _, m := range spec.Models {
		add("model", m.Hub)
	}
	for _, d := range spec.Data {
		add("dataset", d.Hub)
	}
	for _, b := range spec.Benchmarks {
		add("dataset", b.Hub)
	}
	return req
}

func isPinnedRef(ref string) bool {
	i := strings.LastIndex(ref, "@")
	return i >= 0 && strings.HasPrefix(ref[i+1:], "sha256:")
}

// ImageResolver returns a resolver in the shape runner/plan takes
// (reference -> "sha256:..." digest) that reads pins from l: see PinImage.
// Pins it adds (when not locked) are in l afterwards; the caller may write
// them back.
func (c *Client) ImageResolver(l *Lock, locked bool) func(ctx context.Context, ref string) (string, error) {
	return func(ctx context.Context, ref string) (string, error) {
		p, err := c.PinImage(ctx, l, ref, locked)
		if err != nil {
			return "", err
		}
		return p[strings.LastIndex(p, "@")+1:], nil
	}
}

// RevisionResolver wraps a hub resolver (kind, repo, revision -> commit)
// so that pinned revisions come from l: a moved branch changes nothing
// until `crossin lock`. With locked, an unpinned revision is an error;
// otherwise next resolves it and the pin is added to l.
func RevisionResolver(l *Lock, locked bool, next func(ctx context.Context, kind, repo, revision string) (string, error)) func(ctx context.Context, kind, repo, revision string) (string, error) {
	return func(ctx context.Context, kind, repo, revision string) (string, error) {
		h := HubRef{Type: kind, Repo: repo, Revision: revision}
		if c, ok := l.Hub(h); ok {
			return c, nil
		}
		if locked {
			return "", fmt.Errorf("--locked: hub %s is not pinned in %s; run `crossin lock` and commit the result", h, LockFile)
		}
		if next == nil {
			return "", fmt.Errorf("hub %s: no hub client to resolve it", h)
		}
		c, err := next(ctx, kind, repo, revision)
		if err != nil {
			return "", err
		}
		return c, l.SetHub(h, c)
	}
}
