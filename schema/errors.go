package schema

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"cuelang.org/go/cue"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"
)

// Issue is one problem in a spec, at a position in a user's file where
// one is known.
type Issue struct {
	Pos  Pos
	Path string // CUE path, e.g. mixtures.x2x.variants.x2x.volume
	Msg  string
}

// Error lists every problem found in a spec. Load returns it for any
// mistake in the spec files, so callers can show all of them at once.
type Error struct {
	Issues []Issue
}

func (e *Error) Error() string { return e.Format("") }

// Format renders the issues one per line as "file:line:col: path: message".
// File names are shown relative to dir when they lie below it (dir ""
// keeps them as they are), which is how the CLI shows them relative to the
// working directory.
func (e *Error) Format(dir string) string {
	var b strings.Builder
	for i, is := range e.Issues {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(is.format(dir))
	}
	return b.String()
}

func (is Issue) format(dir string) string {
	var b strings.Builder
	if is.Pos.Filename != "" {
		name := RelPath(dir, is.Pos.Filename)
		b.WriteString(name)
		if is.Pos.Line > 0 {
			fmt.Fprintf(&b, ":%d:%d", is.Pos.Line, is.Pos.Column)
		}
		b.WriteString(": ")
	}
	if is.Path != "" {
		b.WriteString(is.Path)
		b.WriteString(": ")
	}
	msg := is.Msg
	if dir != "" && dir != string(filepath.Separator) {
		msg = strings.ReplaceAll(msg, dir+string(filepath.Separator), "")
	}
	b.WriteString(msg)
	return b.String()
}

// RelPath returns path relative to dir when path lies inside dir, and path
// unchanged otherwise (or when dir is "").
func RelPath(dir, path string) string {
	if dir == "" || !filepath.IsAbs(path) {
		return path
	}
	rel, err := filepath.Rel(dir, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return path
	}
	return rel
}

// issues collects problems while loading.
type issues struct {
	list []Issue
}

func (l *issues) add(pos Pos, path, format string, args ...any) {
	l.list = append(l.list, Issue{Pos: pos, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (l *issues) err() error {
	if len(l.list) == 0 {
		return nil
	}
	out := append([]Issue(nil), l.list...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Pos, out[j].Pos
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	// Drop exact duplicates (CUE reports some conflicts once per conjunct).
	dedup := out[:0]
	for i, is := range out {
		if i > 0 && is == out[i-1] {
			continue
		}
		dedup = append(dedup, is)
	}
	return &Error{Issues: dedup}
}

var (
	disjunctionNoise = regexp.MustCompile(`^\d+ errors in empty disjunction:?$`)
	conflictRE       = regexp.MustCompile(`^conflicting values (.+?) and (.+?)( \(mismatched types .*\))?$`)
)

// addCUE converts a CUE error into issues. CUE reports a value that fails
// a disjunction (an enum like "en" | "zh" | ...) as a header line plus one
// "conflicting values" error per alternative; that chatter is folded into
// one message naming the allowed values, and a specific error (such as a
// bound) wins over the type mismatches of the other alternatives.
func (l *issues) addCUE(err error, root cue.Value) {
	var groups []*errGroup
	byPath := map[string]*errGroup{}
	for _, e := range cueerrors.Errors(err) {
		f, a := e.Msg()
		msg := fmt.Sprintf(f, a...)
		if disjunctionNoise.MatchString(msg) {
			continue
		}
		if strings.HasSuffix(msg, "imported but not defined in ") {
			// The spec is not a CUE module: only the standard library
			// can be imported.
			msg = strings.TrimSuffix(msg, " in ") + " (specs can import only CUE's standard library)"
			l.add(userPos(e, root), strings.Join(e.Path(), "."), "%s", msg)
			continue
		}
		p := strings.Join(e.Path(), ".")
		g := byPath[p]
		if g == nil {
			g = &errGroup{path: p}
			byPath[p] = g
			groups = append(groups, g)
		}
		g.errs = append(g.errs, e)
	}
	for _, g := range groups {
		// A list that fails element constraints also fails its default
		// list's length; the element errors say what is wrong.
		if hasDeeper(groups, g.path) {
			var kept []cueerrors.Error
			for _, e := range g.errs {
				f, a := e.Msg()
				if !strings.HasPrefix(fmt.Sprintf(f, a...), "incompatible list lengths") {
					kept = append(kept, e)
				}
			}
			g.errs = kept
		}
		var specific, conflicts []cueerrors.Error
		for _, e := range g.errs {
			f, a := e.Msg()
			if conflictRE.MatchString(fmt.Sprintf(f, a...)) {
				conflicts = append(conflicts, e)
			} else {
				specific = append(specific, e)
			}
		}
		if len(specific) > 0 {
			for _, e := range specific {
				f, a := e.Msg()
				l.add(userPos(e, root), g.path, "%s", fmt.Sprintf(f, a...))
			}
			continue
		}
		if len(conflicts) == 1 {
			f, a := conflicts[0].Msg()
			l.add(userPos(conflicts[0], root), g.path, "%s", shortenStructs(fmt.Sprintf(f, a...)))
			continue
		}
		// Several alternatives failed: find the operand common to all
		// messages (the user's value); the others are the allowed values.
		count := map[string]int{}
		var pairs [][2]string
		for _, e := range conflicts {
			f, a := e.Msg()
			m := conflictRE.FindStringSubmatch(fmt.Sprintf(f, a...))
			pairs = append(pairs, [2]string{m[1], m[2]})
			count[m[1]]++
			if m[2] != m[1] {
				count[m[2]]++
			}
		}
		value := ""
		for _, p := range pairs {
			for _, s := range p {
				if count[s] == len(pairs) {
					value = s
				}
			}
		}
		if value == "" {
			for _, e := range conflicts {
				f, a := e.Msg()
				l.add(userPos(e, root), g.path, "%s", fmt.Sprintf(f, a...))
			}
			continue
		}
		var allowed []string
		seen := map[string]bool{}
		for _, p := range pairs {
			for _, s := range p {
				if s != value && !seen[s] {
					seen[s] = true
					allowed = append(allowed, s)
				}
			}
		}
		sort.Strings(allowed)
		l.add(userPos(conflicts[0], root), g.path, "invalid value %s (want %s)", value, strings.Join(allowed, " | "))
	}
}

// errGroup is the errors CUE reports at one path.
type errGroup struct {
	path string
	errs []cueerrors.Error
}

func hasDeeper(groups []*errGroup, path string) bool {
	for _, g := range groups {
		if strings.HasPrefix(g.path, path+".") {
			return true
		}
	}
	return false
}

// shortenStructs replaces a whole schema struct that CUE prints as one
// operand of a conflict ("conflicting values 5 and {family: ...}") with
// "{...}": the mismatched types that follow say what was expected.
func shortenStructs(msg string) string {
	m := conflictRE.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	a, b := m[1], m[2]
	if strings.HasPrefix(a, "{") {
		a = "{...}"
	}
	if strings.HasPrefix(b, "{") {
		b = "{...}"
	}
	return "conflicting values " + a + " and " + b + m[3]
}

// userPos picks the position of an error in a user's file: one of the
// error's own positions if any lies in a user file, otherwise the position
// of the closest enclosing value that a user file declares (a required
// field missing from a user's struct is reported at that struct).
func userPos(e cueerrors.Error, root cue.Value) Pos {
	for _, p := range append([]token.Pos{e.Position()}, e.InputPositions()...) {
		if isUserFile(p.Filename()) {
			return toPos(p)
		}
	}
	path := e.Path()
	for n := len(path); n > 0 && root.Exists(); n-- {
		v := root.LookupPath(cue.ParsePath(strings.Join(path[:n], ".")))
		if !v.Exists() {
			continue
		}
		if p := v.Pos(); isUserFile(p.Filename()) {
			return toPos(p)
		}
		for _, c := range conjunctPositions(v) {
			if isUserFile(c.Filename()) {
				return toPos(c)
			}
		}
	}
	if p := e.Position(); p.IsValid() {
		return toPos(p)
	}
	return Pos{}
}

// conjunctPositions lists where the parts of v were written.
func conjunctPositions(v cue.Value) []token.Pos {
	_, args := v.Expr()
	var out []token.Pos
	for _, a := range args {
		out = append(out, a.Pos())
	}
	return out
}

func isUserFile(name string) bool { return name != "" && name != SchemaFile }

func toPos(p token.Pos) Pos {
	if !p.IsValid() {
		return Pos{}
	}
	return Pos{Filename: p.Filename(), Line: p.Line(), Column: p.Column()}
}

// CUEError converts an error from the CUE API (parsing, building,
// validating any CUE) into an *Error with the same cleanup Load applies:
// empty-disjunction chatter folded, positions in user files preferred.
// It returns nil when err holds no CUE errors.
func CUEError(err error) *Error {
	var ce cueerrors.Error
	if err == nil || !errors.As(err, &ce) || len(cueerrors.Errors(err)) == 0 {
		return nil
	}
	var is issues
	is.addCUE(err, cue.Value{})
	e, _ := is.err().(*Error)
	return e
}
