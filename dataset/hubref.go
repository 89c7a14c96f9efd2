package dataset

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/crossin-lab/crossin/hub"
)

// HubRef names a file in a Hugging Face hub repository:
// hf://datasets/owner/name@revision/path/in/repo (revision defaults to main;
// "models/" and "spaces/" select the other repository kinds).
type HubRef struct {
	Type     hub.RepoType
	Repo     string
	Revision string
	Path     string
}

// IsHubRef reports whether s is an hf:// reference.
func IsHubRef(s string) bool { return strings.HasPrefix(s, "hf://") }

// ParseHubRef parses an hf:// reference.
func ParseHubRef(s string) (HubRef, error) {
	bad := func(why string) (HubRef, error) {
		return HubRef{}, fmt.Errorf("bad hub reference %q: %s; want hf://datasets/owner/name@revision/path/to/file.parquet", s, why)
	}
	rest, ok := strings.CutPrefix(s, "hf://")
	if !ok {
		return bad("no hf:// prefix")
	}
	var r HubRef
	switch {
	case strings.HasPrefix(rest, "datasets/"):
		r.Type, rest = hub.Dataset, rest[len("datasets/"):]
	case strings.HasPrefix(rest, "models/"):
		r.Type, rest = hub.Model, rest[len("models/"):]
	case strings.HasPrefix(rest, "spaces/"):
		r.Type, rest = hub.Space, rest[len("spaces/"):]
	default:
		return bad("the kind must be datasets/, models/ or spaces/")
	}
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) < 3 {
		return bad("missing owner, name or file path")
	}
	name, rev, _ := strings.Cut(parts[1], "@")
	if rev == "" {
		rev = "main"
	}
	r.Repo, r.Revision, r.Path = parts[0]+"/"+name, rev, parts[2]
	if r.Path == "" || strings.HasSuffix(r.Path, "/") {
		return bad("the path must name a file")
	}
	return r, nil
}

// String formats the reference.
func (r HubRef) String() string {
	return fmt.Sprintf("hf://%ss/%s@%s/%s", r.Type, r.Repo, r.Revision, r.Path)
}

// LoadRef loads a local file or an hf:// reference. A hub file is resolved
// to a commit, downloaded once into the client's content-addressed cache and
// read from there (offline afterwards); the set's Source records the commit,
// so provenance survives a moving branch.
func LoadRef(ctx context.Context, ref string, c *hub.Client, opts ...Option) (*Set, error) {
	if !IsHubRef(ref) {
		return Load(ref, opts...)
	}
	r, err := ParseHubRef(ref)
	if err != nil {
		return nil, err
	}
	if c == nil {
		c = hub.NewClient()
	}
	commit, err := c.Resolve(ctx, r.Type, r.Repo, r.Revision)
	if err != nil {
		return nil, err
	}
	local, err := c.Download(ctx, r.Type, r.Repo, commit, r.Path)
	if err != nil {
		return nil, err
	}
	s, err := Load(local, append([]Option{WithFormat(path.Ext(r.Path))}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("%s (cached as %s): %w", HubRef{r.Type, r.Repo, commit, r.Path}, local, err)
	}
	s.Source = HubRef{r.Type, r.Repo, commit, r.Path}.String()
	return s, nil
}
