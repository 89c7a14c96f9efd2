package plan

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/crossin-lab/crossin/schema"
)

var hex40 = regexp.MustCompile(`^[0-9a-f]{40}$`)

// backend returns the key component of a backend: its kind and, for
// container and Slurm backends, the image digest, for the embedded backend
// the engine's arithmetic path (WithArithmetic). Tags never enter keys; an
// unresolved tag leaves the key unresolved.
func (b *builder) backend(be *schema.Backend) (json.RawMessage, string, []string) {
	type comp struct {
		Kind       string            `json:"kind"`
		Image      string            `json:"image,omitempty"`
		Arithmetic string            `json:"arithmetic,omitempty"`
		Trainer    string            `json:"trainer,omitempty"`
		Options    map[string]string `json:"options,omitempty"`
	}
	if be.Kind == schema.BackendEmbedded {
		return value(comp{Kind: be.Kind, Arithmetic: b.cfg.arithmetic}), "", nil
	}
	// Which trainer the image runs and its options change bytes, so they
	// are part of the key; the default (crossin) keeps older keys.
	tr := be.Trainer
	if tr == schema.TrainerCrossin {
		tr = ""
	}
	mk := "image\x00" + be.Image
	r, ok := b.resolved[mk]
	if !ok {
		var digest string
		var err error
		if ctx := b.resolveCtx(); ctx != nil || b.cfg.images == nil {
			if ctx == nil {
				ctx = b.cfg.ctx
			}
			digest, err = ImageDigest(ctx, be.Image, b.cfg.images)
		} else {
			err = fmt.Errorf("image %s: not resolved (resolvers took longer than %v; pin it in crossin.lock)", be.Image, b.cfg.resolveBudget)
		}
		r = resolution{value: digest}
		if err != nil {
			r = resolution{unresolved: []string{err.Error()}}
		}
		if b.resolved == nil {
			b.resolved = map[string]resolution{}
		}
		b.resolved[mk] = r
	}
	digest := r.value
	if len(r.unresolved) > 0 {
		return value(comp{Kind: be.Kind, Image: "unresolved", Trainer: tr, Options: be.Options}), "", r.unresolved
	}
	return value(comp{Kind: be.Kind, Image: digest, Trainer: tr, Options: be.Options}), digest, nil
}

// ImageDigest returns the digest of an image reference: the reference's
// own digest when pinned ("name@sha256:..."), else the resolver's answer.
func ImageDigest(ctx context.Context, ref string, r ImageResolver) (string, error) {
	if i := strings.LastIndex(ref, "@"); i >= 0 && strings.HasPrefix(ref[i+1:], "sha256:") {
		return ref[i+1:], nil
	}
	if r == nil {
		return "", fmt.Errorf("image %s is a tag, not a digest: pin it (name@sha256:...) or lock it with crossin.lock", ref)
	}
	d, err := r(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", ref, err)
	}
	return d, nil
}

// revision pins a hub revision: commits as they are, other revisions
// through the resolver.
func (b *builder) revision(kind string, h *schema.Hub) (string, []string) {
	if hex40.MatchString(h.Revision) {
		return h.Revision, nil
	}
	// Resolvers may ask the network: ask once per reference.
	mk := kind + "\x00" + h.Repo + "\x00" + h.Revision
	if r, ok := b.resolved[mk]; ok {
		return r.value, r.unresolved
	}
	commit, unres := b.resolveRevision(kind, h)
	if b.resolved == nil {
		b.resolved = map[string]resolution{}
	}
	b.resolved[mk] = resolution{commit, unres}
	return commit, unres
}

// resolution memoises a resolver's answer.
type resolution struct {
	value      string
	unresolved []string
}

func (b *builder) resolveRevision(kind string, h *schema.Hub) (string, []string) {
	if b.cfg.revisions != nil {
		ctx := b.resolveCtx()
		if ctx == nil {
			return "", []string{fmt.Sprintf("%s %s revision %q: not resolved (resolvers took longer than %v; pin it in crossin.lock)", kind, h.Repo, h.Revision, b.cfg.resolveBudget)}
		}
		c, err := b.cfg.revisions(ctx, kind, h.Repo, h.Revision)
		if err == nil && hex40.MatchString(c) {
			return c, nil
		}
		if err != nil {
			return "", []string{fmt.Sprintf("%s %s revision %q: %v", kind, h.Repo, h.Revision, err)}
		}
	}
	return "", []string{fmt.Sprintf("%s %s revision %q is not a commit: pin it to a 40-hex commit", kind, h.Repo, h.Revision)}
}

// hubContent is the key of hub content: repo and pinned commit (the
// revision as written when unresolved; such keys are never looked up).
func hubContent(h *schema.Hub, commit string) map[string]string {
	if commit == "" {
		return map[string]string{"repo": h.Repo, "unresolved": h.Revision}
	}
	return map[string]string{"repo": h.Repo, "commit": commit}
}
