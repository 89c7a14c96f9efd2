package schema

import (
	"os"
	"path/filepath"
	"sort"
	"strings"

	"cuelang.org/go/cue"
)

// pos is where v is written in a user's file: its own position, one of
// its conjuncts', or else (a value that only the schema's defaults give)
// the position of the closest enclosing value a user wrote.
func (l *loader) pos(v cue.Value) Pos {
	if p, ok := userPosOf(v); ok {
		return p
	}
	sel := v.Path().Selectors()
	for n := len(sel) - 1; n > 0; n-- {
		if p, ok := userPosOf(l.root.LookupPath(cue.MakePath(sel[:n]...))); ok {
			return p
		}
	}
	return toPos(v.Pos())
}

func userPosOf(v cue.Value) (Pos, bool) {
	if !v.Exists() {
		return Pos{}, false
	}
	if p := v.Pos(); isUserFile(p.Filename()) {
		return toPos(p), true
	}
	for _, c := range conjunctPositions(v) {
		if isUserFile(c.Filename()) {
			return toPos(c), true
		}
	}
	return Pos{}, false
}

func pathOf(v cue.Value) string { return v.Path().String() }

// fields returns the regular fields of the struct at path, sorted by name.
func (l *loader) fields(path string) []cue.Value {
	v := l.root.LookupPath(cue.ParsePath(path))
	if !v.Exists() {
		return nil
	}
	it, err := v.Fields()
	if err != nil {
		l.is.add(l.pos(v), path, "%v", err)
		return nil
	}
	var out []cue.Value
	for it.Next() {
		out = append(out, it.Value())
	}
	sort.Slice(out, func(i, j int) bool { return label(out[i]) < label(out[j]) })
	return out
}

// label returns the last selector of v's path, unquoted.
func label(v cue.Value) string {
	sel := v.Path().Selectors()
	if len(sel) == 0 {
		return ""
	}
	s := sel[len(sel)-1]
	if s.LabelType() == cue.StringLabel {
		return s.Unquoted()
	}
	return s.String()
}

func (l *loader) decodeInto(v cue.Value, dst any) bool {
	if err := v.Decode(dst); err != nil {
		l.is.add(l.pos(v), pathOf(v), "%v", err)
		return false
	}
	return true
}

// localPath resolves a path written in the spec: relative paths are
// relative to the directory of the file that spells them.
func (l *loader) localPath(v cue.Value, s string) string {
	if filepath.IsAbs(s) {
		return filepath.Clean(s)
	}
	dir := l.base
	if p := l.pos(v); p.Filename != "" && filepath.IsAbs(p.Filename) {
		dir = filepath.Dir(p.Filename)
	}
	return filepath.Join(dir, s)
}

// mustExist checks that a local file (dir=false) or directory exists.
func (l *loader) mustExist(v cue.Value, path string, dir bool) {
	fi, err := os.Stat(path)
	what := "file"
	if dir {
		what = "directory"
	}
	switch {
	case err != nil:
		l.is.add(l.pos(v), pathOf(v), "%s %s does not exist", what, l.show(path))
	case dir && !fi.IsDir():
		l.is.add(l.pos(v), pathOf(v), "%s is not a directory", l.show(path))
	case !dir && fi.IsDir():
		l.is.add(l.pos(v), pathOf(v), "%s is a directory, want a file", l.show(path))
	}
}

// show renders a path for a message. Paths stay absolute here;
// Error.Format shows them relative to the directory it is given.
func (l *loader) show(path string) string { return path }

// exactlyOne checks that exactly one of the named optional fields is set.
func (l *loader) exactlyOne(v cue.Value, names ...string) {
	var set []string
	for _, n := range names {
		if v.LookupPath(cue.ParsePath(n)).Exists() {
			set = append(set, n)
		}
	}
	if len(set) != 1 {
		got := "none"
		if len(set) > 1 {
			got = strings.Join(set, " and ")
		}
		l.is.add(l.pos(v), pathOf(v), "set exactly one of %s (got %s)", strings.Join(names, ", "), got)
	}
}

// langOrder is the canonical order of language codes (the schema's #Lang
// order), used where a spec gives languages as struct keys.
var langOrder = []string{"en", "zh", "vi", "es", "id", "ms", "tl", "th", "ar", "de", "el", "hi", "ro", "ru", "tr", "fr", "ja", "ko", "pt"}

func sortLangs(langs []string) {
	rank := map[string]int{}
	for i, l := range langOrder {
		rank[l] = i
	}
	sort.SliceStable(langs, func(i, j int) bool { return rank[langs[i]] < rank[langs[j]] })
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]bool{}
	for _, x := range a {
		m[x] = true
	}
	for _, x := range b {
		if !m[x] {
			return false
		}
	}
	return true
}

func duplicate(list []string) string {
	seen := map[string]bool{}
	for _, x := range list {
		if seen[x] {
			return x
		}
		seen[x] = true
	}
	return ""
}

func contains(list []string, x string) bool {
	for _, y := range list {
		if y == x {
			return true
		}
	}
	return false
}

func names[T interface{ name() string }](list []T) string {
	var out []string
	for _, x := range list {
		out = append(out, x.name())
	}
	if len(out) == 0 {
		return "none declared"
	}
	return strings.Join(out, ", ")
}

func (m *Model) name() string { return m.Name }

func (d *DataSource) name() string { return d.Name }

func (m *Mixture) name() string { return m.Name }

func (b *Benchmark) name() string { return b.Name }

func (b *Backend) name() string { return b.Name }
