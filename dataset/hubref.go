package dataset

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/crossin-lab/crossin/hub"
)

// HubRef names a file, or a folder of Parquet shards, in a Hugging Face hub
// repository: hf://datasets/owner/name@revision/path/in/repo (revision
// defaults to main; "models/" and "spaces/" select the other repository
// kinds).
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
		return bad("the path must name a file or a folder, without a trailing /")
	}
	return r, nil
}

// String formats the reference.
func (r HubRef) String() string {
	return fmt.Sprintf("hf://%ss/%s@%s/%s", r.Type, r.Repo, r.Revision, r.Path)
}

// LoadRef loads a local file or folder (see Load) or an hf:// reference. A
// hub file is resolved to a commit, downloaded once into the client's
// content-addressed cache and read from there (offline afterwards); the
// set's Source records the commit, so provenance survives a moving branch.
// A hub path without a data-file extension is a folder: its Parquet shards
// of the train split are downloaded and read in path order, as
// datasets.load_dataset reads them.
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
	pinned := HubRef{r.Type, r.Repo, commit, r.Path}
	switch strings.ToLower(path.Ext(r.Path)) {
	case ".json", ".jsonl", ".ndjson", ".parquet":
	default:
		return loadHubDir(ctx, c, pinned, opts)
	}
	local, err := c.Download(ctx, r.Type, r.Repo, commit, r.Path)
	if err != nil {
		return nil, err
	}
	s, err := Load(local, append([]Option{WithFormat(path.Ext(r.Path))}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("%s (cached as %s): %w", pinned, local, err)
	}
	s.Source = pinned.String()
	return s, nil
}

// loadHubDir reads the Parquet shards of a folder in a hub repository at a
// pinned commit. Errors name each shard by its hub reference.
func loadHubDir(ctx context.Context, c *hub.Client, dir HubRef, opts []Option) (*Set, error) {
	cfg := config{}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.lang != "" {
		if err := CheckLang(cfg.lang); err != nil {
			return nil, err
		}
	}
	if cfg.format != "" && !strings.EqualFold(cfg.format, ".parquet") {
		return nil, fmt.Errorf("%s: %w: a folder is read as Parquet shards, but the format says %s; give the path of the file instead", dir, ErrFormat, strings.TrimPrefix(cfg.format, "."))
	}
	files, err := c.ListFiles(ctx, dir.Type, dir.Repo, dir.Revision)
	if err != nil {
		return nil, err
	}
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = f.Path
	}
	rels, isDir := hubShards(paths, dir.Path)
	switch {
	case !isDir:
		return nil, fmt.Errorf("%s: no such file or folder in the repository; a data file needs a .json, .jsonl, .ndjson or .parquet name, a folder must hold Parquet shards", dir)
	case len(rels) == 0:
		return nil, fmt.Errorf("%s: folder holds no .parquet files; point at a data file or at the folder of a data set's Parquet shards", dir)
	}
	shards := make([]shard, len(rels))
	for i, rel := range rels {
		p := dir.Path + "/" + rel
		local, err := c.Download(ctx, dir.Type, dir.Repo, dir.Revision, p)
		if err != nil {
			return nil, err
		}
		shards[i] = shard{local: local, name: HubRef{dir.Type, dir.Repo, dir.Revision, p}.String()}
	}
	return loadShards(dir.String(), shards, &cfg)
}
