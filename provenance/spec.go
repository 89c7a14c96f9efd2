package provenance

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/crossin-lab/crossin/resultset"
	"github.com/crossin-lab/crossin/schema"
)

// SpecSource says where the spec a record was checked against came from.
type SpecSource struct {
	// Where: "working tree" (the recorded files, unchanged), "commit
	// COMMIT" (extracted from git because the files changed since), or
	// "working tree (changed)" when the record is not in git and the files
	// differ from it: keys then say what would re-run.
	Where string `json:"where"`
	// Changed lists recorded spec files whose content differs now.
	Changed []string `json:"changed,omitempty"`
	Dir     string   `json:"-"` // temporary directory to remove, if any
}

// Cleanup removes the temporary checkout, if any.
func (s *SpecSource) Cleanup() {
	if s != nil && s.Dir != "" {
		os.RemoveAll(s.Dir)
	}
}

// LoadSpec loads the spec a record names. Paths are resolved from the git
// repository holding the working directory (records made in git) or from
// the working directory. When the files still hash as recorded they are
// used in place. When they changed and the record names a git commit, the
// spec is read at that commit: its directories are extracted from git into
// a temporary directory (relative data paths beside the spec then read
// that commit's files too). Otherwise the current files are used, and
// verify's keys say which rows that changes.
func LoadSpec(rec *resultset.Set) (*schema.Spec, *SpecSource, error) {
	if rec.Provenance == nil || len(rec.Provenance.Spec.Files) == 0 {
		return nil, nil, errors.New("the record names no spec files (it was written before crossin recorded provenance); re-run it with this crossin")
	}
	sp := rec.Provenance.Spec
	base, err := os.Getwd()
	if err != nil {
		return nil, nil, err
	}
	if sp.Root == RootGit {
		top, ok := gitTop(base)
		if !ok {
			return nil, nil, fmt.Errorf("the record's spec paths are relative to a git repository (commit %s); run this inside a clone of it", short(sp.Commit))
		}
		base = top
	}
	src := &SpecSource{Where: "working tree"}
	var paths []string
	for _, f := range sp.Files {
		p := filepath.Join(base, filepath.FromSlash(f.Path))
		paths = append(paths, p)
		data, err := os.ReadFile(p)
		if err != nil || sha256hex(data) != f.SHA256 {
			src.Changed = append(src.Changed, f.Path)
		}
	}
	if len(src.Changed) > 0 && sp.Root == RootGit && sp.Commit != "" && !sp.Dirty {
		dir, err := checkout(base, sp.Commit, sp.Files)
		if err != nil {
			return nil, nil, err
		}
		src = &SpecSource{Where: "commit " + sp.Commit, Changed: src.Changed, Dir: dir}
		paths = paths[:0]
		for _, f := range sp.Files {
			paths = append(paths, filepath.Join(dir, filepath.FromSlash(f.Path)))
		}
	} else if len(src.Changed) > 0 {
		for _, f := range sp.Files {
			if _, err := os.Stat(filepath.Join(base, filepath.FromSlash(f.Path))); err != nil {
				return nil, nil, fmt.Errorf("spec file %s of the record: %w", f.Path, err)
			}
		}
		src.Where = "working tree (changed since the record)"
	}
	spec, err := schema.Load(paths...)
	if err != nil {
		src.Cleanup()
		return nil, nil, err
	}
	return spec, src, nil
}

// checkout extracts the directories holding files, at commit, from the
// git repository at top into a new temporary directory.
func checkout(top, commit string, files []resultset.SpecFile) (string, error) {
	dirs := map[string]bool{}
	var args []string
	for _, f := range files {
		d := path.Dir(f.Path)
		if !dirs[d] {
			dirs[d] = true
			args = append(args, d)
		}
	}
	cmd := exec.Command("git", append([]string{"-C", top, "archive", "--format=tar", commit, "--"}, args...)...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("reading the spec at commit %s: git archive: %v: %s", short(commit), err, strings.TrimSpace(stderr.String()))
	}
	dir, err := os.MkdirTemp("", "crossin-spec-")
	if err != nil {
		return "", err
	}
	tr := tar.NewReader(&out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			os.RemoveAll(dir)
			return "", err
		}
		name := filepath.FromSlash(h.Name)
		if !filepath.IsLocal(name) {
			continue
		}
		target := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(target, 0o755)
		case tar.TypeReg:
			if err = os.MkdirAll(filepath.Dir(target), 0o755); err == nil {
				var f *os.File
				if f, err = os.Create(target); err == nil {
					_, err = io.Copy(f, tr)
					if cerr := f.Close(); err == nil {
						err = cerr
					}
				}
			}
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, target)
		}
		if err != nil {
			os.RemoveAll(dir)
			return "", err
		}
	}
	return dir, nil
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// short abbreviates a hash to 12 characters.
func short(h string) string {
	if i := strings.IndexByte(h, ':'); i >= 0 {
		h = h[i+1:]
	}
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
