package dataset

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// A data set on the Hugging Face hub is usually a folder of Parquet shards
// (Open-Platypus: data/train-00000-of-00001-<hash>.parquet), which the
// reference code reads with datasets.load_dataset(folder, split="train"):
// every shard of the train split, in file-name order, rows in file order.
// LoadDir and LoadRef on a folder do the same, so a set's row positions (and
// hence what a seeded sampler picks) are those the reference saw.

// shard is one Parquet file of a folder: where to read it and the name that
// errors and provenance use (a hub reference for downloaded files).
type shard struct {
	local string
	name  string
}

// splitNames are the split names the hub recognises in file names.
var splitNames = []string{"train", "validation", "valid", "dev", "test", "eval"}

// splitOf returns the split a shard's path names (the hub's convention: a
// folder called train/, or a file name starting with train followed by -,
// _, . or a digit), or "" if it names none.
func splitOf(rel string) string {
	parts := strings.Split(rel, "/")
	for i, p := range parts {
		for _, s := range splitNames {
			if i < len(parts)-1 {
				if p == s {
					return s
				}
				continue
			}
			if rest, ok := strings.CutPrefix(p, s); ok && rest != "" && strings.ContainsRune("-_.0123456789", rune(rest[0])) {
				return s
			}
		}
	}
	return ""
}

// trainShards keeps the shards of the train split when the folder names
// splits (as load_dataset(..., split="train") does), else all of them, in
// path order. rels are slash paths relative to the folder.
func trainShards(rels []string) []string {
	sort.Strings(rels)
	var train []string
	for _, r := range rels {
		if splitOf(r) == "train" {
			train = append(train, r)
		}
	}
	if len(train) > 0 {
		return train
	}
	return rels
}

// parquetFiles lists the .parquet files under dir (recursively), as slash
// paths relative to dir.
func parquetFiles(dir string) ([]string, error) {
	var rels []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir // .git, .cache
		}
		if !d.IsDir() && strings.EqualFold(filepath.Ext(p), ".parquet") {
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			rels = append(rels, filepath.ToSlash(rel))
		}
		return nil
	})
	return rels, err
}

// loadDir reads a folder of Parquet shards as one set.
func loadDir(dir string, cfg *config) (*Set, error) {
	if cfg.format != "" && !strings.EqualFold(cfg.format, ".parquet") {
		return nil, fmt.Errorf("%s: %w: a folder is read as Parquet shards, but the format says %s; give the path of the file instead, or format: \"parquet\"", dir, ErrFormat, strings.TrimPrefix(cfg.format, "."))
	}
	rels, err := parquetFiles(dir)
	if err != nil {
		return nil, err
	}
	if len(rels) == 0 {
		return nil, &PosError{File: dir, Msg: "folder holds no .parquet files; point path at a file, or at the folder of a data set's Parquet shards (as on the hub: data/train-00000-of-00001.parquet)"}
	}
	var shards []shard
	for _, r := range trainShards(rels) {
		p := filepath.Join(dir, filepath.FromSlash(r))
		shards = append(shards, shard{local: p, name: p})
	}
	return loadShards(dir, shards, cfg)
}

// loadShards reads shards in order and validates their rows as one set.
// Row numbers stay per file, and every error names the shard it is about.
func loadShards(source string, shards []shard, cfg *config) (*Set, error) {
	var raws []rawRecord
	for _, sh := range shards {
		rs, err := readParquet(sh.local, sh.name, cfg)
		if err != nil {
			return nil, err
		}
		for i := range rs {
			rs[i].file = sh.name
		}
		raws = append(raws, rs...)
	}
	return finish(source, raws, cfg)
}

// hubShards picks the Parquet shards of folder dir among a repository's
// file paths; ok is false when dir is not a folder there.
func hubShards(files []string, dir string) (rels []string, ok bool) {
	prefix := strings.TrimSuffix(dir, "/") + "/"
	for _, f := range files {
		rest, in := strings.CutPrefix(f, prefix)
		if !in {
			continue
		}
		ok = true
		if strings.EqualFold(path.Ext(rest), ".parquet") {
			rels = append(rels, rest)
		}
	}
	if len(rels) > 0 {
		rels = trainShards(rels)
	}
	return rels, ok
}

// isDir reports whether p is a local directory.
func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
