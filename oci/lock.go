package oci

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/crossin-lab/crossin/atomicfile"
)

// LockFile is the conventional name of the lock file, next to the specs.
const LockFile = "crossin.lock"

const lockHeader = "# crossin.lock: every image and hub revision the specs use, pinned.\n" +
	"# Written by `crossin lock`; commit it with the specs. `crossin run --locked` refuses\n" +
	"# anything not pinned here. Format: `image REF PINNED` and `hub TYPE REPO REVISION COMMIT`.\n"

// Lock is the content of crossin.lock, the go.sum of crossin: it maps every
// image reference a spec uses (tags allowed) to the digest it resolved to,
// and every hub revision to its commit. Planning reads digests from here, so
// a tag that moves in the registry changes nothing until `crossin lock` is
// re-run.
type Lock struct {
	images map[string]string // ref as written -> registry/repo@sha256:...
	hub    map[HubRef]string // -> 40-hex commit
}

// HubRef names one Hugging Face hub revision.
type HubRef struct {
	Type     string // model, dataset, space
	Repo     string // owner/name
	Revision string // branch, tag or commit as written in the spec
}

func (h HubRef) String() string { return h.Type + " " + h.Repo + "@" + h.Revision }

// NewLock returns an empty lock.
func NewLock() *Lock { return &Lock{images: map[string]string{}, hub: map[HubRef]string{}} }

var (
	pinnedRE = regexp.MustCompile(`^[^@\s]+@sha256:[0-9a-f]{64}$`)
	commitRE = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

// ReadLock reads a lock file. A missing file gives an error wrapping
// fs.ErrNotExist; callers that allow it use NewLock instead.
func ReadLock(path string) (*Lock, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w (run `crossin lock` to create it)", path, err)
		}
		return nil, err
	}
	return ParseLock(data, path)
}

// ParseLock parses lock file content; name is used in file:line errors.
func ParseLock(data []byte, name string) (*Lock, error) {
	l := NewLock()
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		switch {
		case f[0] == "image" && len(f) == 3:
			if !pinnedRE.MatchString(f[2]) {
				return nil, fmt.Errorf("%s:%d: image %s: pinned reference %q is not REPOSITORY@sha256:<64 hex>; re-run `crossin lock`", name, n, f[1], f[2])
			}
			if _, dup := l.images[f[1]]; dup {
				return nil, fmt.Errorf("%s:%d: image %s is listed twice; re-run `crossin lock`", name, n, f[1])
			}
			l.images[f[1]] = f[2]
		case f[0] == "hub" && len(f) == 5:
			if !commitRE.MatchString(f[4]) {
				return nil, fmt.Errorf("%s:%d: hub %s: commit %q is not 40 lowercase hex digits; re-run `crossin lock`", name, n, f[2], f[4])
			}
			k := HubRef{Type: f[1], Repo: f[2], Revision: f[3]}
			if _, dup := l.hub[k]; dup {
				return nil, fmt.Errorf("%s:%d: hub %s is listed twice; re-run `crossin lock`", name, n, k)
			}
			l.hub[k] = f[4]
		default:
			return nil, fmt.Errorf("%s:%d: cannot parse %q: want `image REF REPOSITORY@sha256:DIGEST` or `hub TYPE REPO REVISION COMMIT`", name, n, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return l, nil
}

// Bytes renders the lock in its canonical, sorted form: the same pins give
// the same bytes, so the file diffs cleanly under version control.
func (l *Lock) Bytes() []byte {
	var b bytes.Buffer
	b.WriteString(lockHeader)
	refs := make([]string, 0, len(l.images))
	for r := range l.images {
		refs = append(refs, r)
	}
	sort.Strings(refs)
	for _, r := range refs {
		fmt.Fprintf(&b, "image %s %s\n", r, l.images[r])
	}
	hubs := make([]HubRef, 0, len(l.hub))
	for h := range l.hub {
		hubs = append(hubs, h)
	}
	sort.Slice(hubs, func(i, j int) bool {
		a, c := hubs[i], hubs[j]
		if a.Type != c.Type {
			return a.Type < c.Type
		}
		if a.Repo != c.Repo {
			return a.Repo < c.Repo
		}
		return a.Revision < c.Revision
	})
	for _, h := range hubs {
		fmt.Fprintf(&b, "hub %s %s %s %s\n", h.Type, h.Repo, h.Revision, l.hub[h])
	}
	return b.Bytes()
}

// Write writes the lock atomically (temp file in the same directory, rename).
func (l *Lock) Write(path string) error { return atomicfile.Write(path, l.Bytes(), 0o644) }

// Image returns the pinned form of ref, if the lock has it.
func (l *Lock) Image(ref string) (string, bool) { p, ok := l.images[ref]; return p, ok }

// SetImage pins ref to pinned (REPOSITORY@sha256:...).
func (l *Lock) SetImage(ref, pinned string) error {
	if !pinnedRE.MatchString(pinned) {
		return fmt.Errorf("pin %s: %q is not REPOSITORY@sha256:<64 hex>", ref, pinned)
	}
	l.images[ref] = pinned
	return nil
}

// Hub returns the commit a hub revision is pinned to.
func (l *Lock) Hub(h HubRef) (string, bool) { c, ok := l.hub[h]; return c, ok }

// SetHub pins a hub revision to a commit.
func (l *Lock) SetHub(h HubRef, commit string) error {
	if !commitRE.MatchString(commit) {
		return fmt.Errorf("pin %s: commit %q is not 40 lowercase hex digits", h, commit)
	}
	if h.Type == "" || h.Repo == "" || h.Revision == "" || strings.ContainsAny(h.Type+h.Repo+h.Revision, " \t\n") {
		return fmt.Errorf("pin %s: type, repo and revision must be non-empty words", h)
	}
	l.hub[h] = commit
	return nil
}

// Images returns the pinned image references, sorted.
func (l *Lock) Images() []string {
	out := make([]string, 0, len(l.images))
	for r := range l.images {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// Requirements are the external references a set of specs uses.
type Requirements struct {
	Images []string
	Hub    []HubRef
}

// Check is `--locked`: it fails, listing every offender, unless each image
// and hub revision in req is pinned in the lock.
func (l *Lock) Check(req Requirements) error {
	var missing []string
	for _, r := range req.Images {
		if _, ok := l.images[r]; !ok {
			missing = append(missing, "image "+r)
		}
	}
	for _, h := range req.Hub {
		if _, ok := l.hub[h]; !ok {
			missing = append(missing, "hub "+h.String())
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("--locked: not pinned in %s: %s; run `crossin lock` and commit the result", LockFile, strings.Join(missing, ", "))
	}
	return nil
}

// Prune drops pins that req no longer uses, so the lock lists exactly what
// the specs need (like `go mod tidy` for go.sum).
func (l *Lock) Prune(req Requirements) {
	keepI := map[string]bool{}
	for _, r := range req.Images {
		keepI[r] = true
	}
	for r := range l.images {
		if !keepI[r] {
			delete(l.images, r)
		}
	}
	keepH := map[HubRef]bool{}
	for _, h := range req.Hub {
		keepH[h] = true
	}
	for h := range l.hub {
		if !keepH[h] {
			delete(l.hub, h)
		}
	}
}

// HubResolver resolves a hub revision to a commit; *hub.Client fits it
// through a one-line adapter (the hub package is not imported here).
type HubResolver interface {
	Resolve(ctx context.Context, typ, repo, revision string) (string, error)
}

// Change is one pin `crossin lock` added or moved.
type Change struct {
	What     string // "image REF" or "hub TYPE REPO@REV"
	Old, New string // Old is empty for a new pin
}

// Relock resolves every reference in req afresh (tags may have moved),
// updates the lock, drops unused pins and returns what changed. hub may be
// nil when req has no hub references.
func (c *Client) Relock(ctx context.Context, l *Lock, req Requirements, hub HubResolver) ([]Change, error) {
	var changes []Change
	for _, r := range sortedUnique(req.Images) {
		pinned, err := c.Resolve(ctx, r)
		if err != nil {
			return nil, err
		}
		if old := l.images[r]; old != pinned {
			changes = append(changes, Change{What: "image " + r, Old: old, New: pinned})
		}
		if err := l.SetImage(r, pinned); err != nil {
			return nil, err
		}
	}
	for _, h := range req.Hub {
		if hub == nil {
			return nil, fmt.Errorf("lock %s: no hub client configured", h)
		}
		commit, err := hub.Resolve(ctx, h.Type, h.Repo, h.Revision)
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", h, err)
		}
		if old := l.hub[h]; old != commit {
			changes = append(changes, Change{What: "hub " + h.String(), Old: old, New: commit})
		}
		if err := l.SetHub(h, commit); err != nil {
			return nil, err
		}
	}
	l.Prune(req)
	return changes, nil
}

// PinImage is what planning calls for each image reference: the lock's pin
// when there is one (so a moved tag changes nothing until re-lock, and a
// warm run needs no registry); with locked, a missing pin is an error;
// otherwise the reference is resolved now and added to the lock (the
// caller may write it back). Whether a pinned image still exists is checked
// by Preflight, before any stage runs on a container backend.
func (c *Client) PinImage(ctx context.Context, l *Lock, ref string, locked bool) (string, error) {
	if p, ok := l.images[ref]; ok {
		return p, nil
	}
	if locked {
		return "", fmt.Errorf("--locked: image %s is not pinned in %s; run `crossin lock` and commit the result", ref, LockFile)
	}
	p, err := c.Resolve(ctx, ref)
	if err != nil {
		return "", err
	}
	return p, l.SetImage(ref, p)
}

// Preflight checks that every pinned image exists in its registry, so an
// unreachable registry or a deleted image is reported before any work
// starts rather than when the first container stage is reached.
func (c *Client) Preflight(ctx context.Context, pinned ...string) error {
	for _, p := range pinned {
		if _, err := c.Resolve(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

func sortedUnique(in []string) []string {
	m := map[string]bool{}
	var out []string
	for _, s := range in {
		if !m[s] {
			m[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
