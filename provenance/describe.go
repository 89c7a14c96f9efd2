// Package provenance records where a results table came from and checks
// such a record: Describe says which crossin build and which spec files
// (and git commit) produced a run; Verify re-derives every key of a
// results.json from its recorded spec and checks the outputs against the
// cache; Reproduce re-runs the record into a fresh cache and compares.
//
// The records themselves are resultset.Set values: the runner fills each
// row's Source from the plan, and this package adds the run's Provenance.
package provenance

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/crossin-lab/crossin/oci"
	"github.com/crossin-lab/crossin/resultset"
	"github.com/crossin-lab/crossin/runner"
	"github.com/crossin-lab/crossin/schema"
)

// Build returns the identity of the running crossin binary: version (as
// set at link time), and the VCS revision and dirty bit Go stamped into
// the build info (absent in `go test` and `go run` builds).
func Build(version string) resultset.Build {
	b := resultset.Build{Version: version}
	if bi, ok := debug.ReadBuildInfo(); ok {
		b.Go = bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Revision = s.Value
			case "vcs.modified":
				b.Dirty = s.Value == "true"
			}
		}
	}
	return b
}

// Describe returns the run part of a record for spec: the build and the
// spec files with their content hash and, when they are in a git
// repository, its commit and whether any of them differs from it.
func Describe(spec *schema.Spec, version string) (*resultset.Provenance, error) {
	sp, err := DescribeSpec(spec.Files)
	if err != nil {
		return nil, err
	}
	return &resultset.Provenance{Crossin: Build(version), Spec: *sp}, nil
}

// DescribeSpec hashes the spec files (absolute paths) and finds their git
// commit. Paths are recorded relative to the repository root, or to the
// working directory outside git.
func DescribeSpec(files []string) (*resultset.Spec, error) {
	sp := &resultset.Spec{Root: RootCwd, Files: []resultset.SpecFile{}}
	if len(files) == 0 {
		return sp, nil
	}
	base, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	top, inGit := gitTop(filepath.Dir(files[0]))
	if inGit {
		sp.Root, base = RootGit, top
		sp.Commit = gitOut(top, "rev-parse", "HEAD")
	}
	h := sha256.New()
	var rels []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		rel, err := filepath.Rel(base, f)
		if err != nil {
			return nil, err
		}
		rel = filepath.ToSlash(rel)
		rels = append(rels, rel)
		sum := sha256.Sum256(data)
		sp.Files = append(sp.Files, resultset.SpecFile{Path: rel, SHA256: hex.EncodeToString(sum[:])})
		fmt.Fprintf(h, "%s\x00%x\n", rel, sum)
	}
	sp.Hash = "sha256:" + hex.EncodeToString(h.Sum(nil))
	if inGit {
		if sp.Commit == "" {
			sp.Dirty = true // no commit yet
		} else {
			// Modified or untracked spec files make the commit not the whole story.
			st := gitOut(top, append([]string{"status", "--porcelain", "--untracked-files=all", "--"}, rels...)...)
			sp.Dirty = st != ""
		}
	}
	return sp, nil
}

// Roots of recorded spec paths.
const (
	RootGit = "git" // relative to the git repository's root
	RootCwd = "cwd" // relative to the working directory of the run
)

// gitTop returns the root of the git work tree holding dir.
func gitTop(dir string) (string, bool) {
	top := gitOut(dir, "rev-parse", "--show-toplevel")
	return top, top != ""
}

// gitOut runs git in dir and returns its trimmed output, or "" when git is
// missing or fails (a spec outside git is not an error).
func gitOut(dir string, args ...string) string {
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return ""
	}
	return strings.TrimSpace(out.String())
}

// LockPins vouches for the references a crossin.lock pins.
func LockPins(l *oci.Lock) runner.Pins {
	if l == nil {
		return nil
	}
	return func(ref string) bool {
		kind, rest, ok := strings.Cut(ref, " ")
		if !ok {
			return false
		}
		if kind == "image" {
			_, ok := l.Image(rest)
			return ok
		}
		i := strings.LastIndex(rest, "@")
		if i < 0 {
			return false
		}
		_, ok = l.Hub(oci.HubRef{Type: kind, Repo: rest[:i], Revision: rest[i+1:]})
		return ok
	}
}
