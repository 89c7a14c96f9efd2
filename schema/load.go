package schema

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/parser"
)

// Source is the schema's CUE text, as embedded in the binary.
//
//go:embed crossin.cue
var Source string

// SchemaFile is the name the embedded schema has in CUE positions.
const SchemaFile = "crossin:schema/crossin.cue"

// topLevel lists the fields a spec may declare at the top level.
var topLevel = []string{"models", "data", "mixtures", "benchmarks", "backends", "experiments"}

// Load reads spec files and directories (every *.cue file directly inside;
// names starting with "." or "_" are skipped), unifies them with the
// embedded schema as one CUE instance, validates them, and returns the
// decoded spec. Any problem in the spec is reported as an *Error listing
// all issues with their positions; local files the spec names must exist.
func Load(paths ...string) (*Spec, error) {
	files, err := expand(paths)
	if err != nil {
		return nil, err
	}
	ctx := cuecontext.New()
	inst := build.NewContext().NewInstance("", nil)
	inst.User = true // any package name (or none) is fine
	var is issues
	sf, err := parser.ParseFile(SchemaFile, Source, parser.ParseComments)
	if err != nil {
		return nil, fmt.Errorf("embedded schema: %w", err) // a bug in crossin, not in the spec
	}
	if err := inst.AddSyntax(sf); err != nil {
		return nil, fmt.Errorf("embedded schema: %w", err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		af, err := parser.ParseFile(f, src)
		if err != nil {
			is.addCUE(err, cue.Value{})
			continue
		}
		if err := inst.AddSyntax(af); err != nil {
			is.addCUE(err, cue.Value{})
		}
	}
	if err := is.err(); err != nil {
		return nil, err
	}
	root := ctx.BuildInstance(inst)
	if err := root.Validate(cue.Concrete(true)); err != nil {
		is.addCUE(err, root)
		return nil, is.err()
	}
	l := &loader{root: root, is: &is, base: filepath.Dir(files[0])}
	spec := l.decode()
	spec.Files = files
	if err := is.err(); err != nil {
		return nil, err
	}
	return spec, nil
}

// expand turns the arguments into a sorted, de-duplicated list of
// absolute .cue file names.
func expand(paths []string) ([]string, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("no spec files given")
	}
	seen := map[string]bool{}
	var out []string
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		fi, err := os.Stat(abs)
		if err != nil {
			return nil, fmt.Errorf("spec %s: no such file or directory", p)
		}
		var list []string
		if fi.IsDir() {
			ents, err := os.ReadDir(abs)
			if err != nil {
				return nil, err
			}
			for _, e := range ents {
				n := e.Name()
				if e.IsDir() || !strings.HasSuffix(n, ".cue") || strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_") {
					continue
				}
				list = append(list, filepath.Join(abs, n))
			}
			if len(list) == 0 {
				return nil, fmt.Errorf("spec directory %s has no .cue files (name spec files or directories, e.g. experiments/quickstart.cue)", p)
			}
		} else {
			list = []string{abs}
		}
		for _, f := range list {
			if !seen[f] {
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

type loader struct {
	root cue.Value
	is   *issues
	base string // directory for relative paths with no file position
}

func (l *loader) decode() *Spec {
	s := &Spec{}
	// Only the schema's top-level fields are allowed: a misspelt one
	// ("model:") would otherwise be silently ignored.
	if it, err := l.root.Fields(); err == nil {
		for it.Next() {
			name := it.Selector().Unquoted()
			known := false
			for _, t := range topLevel {
				known = known || t == name
			}
			if !known {
				l.is.add(l.pos(it.Value()), name, "unknown top-level field (want one of %s)", strings.Join(topLevel, ", "))
			}
		}
	}
	for _, v := range l.fields("models") {
		if m := l.model(v); m != nil {
			s.Models = append(s.Models, m)
		}
	}
	for _, v := range l.fields("data") {
		if d := l.dataSource(v); d != nil {
			s.Data = append(s.Data, d)
		}
	}
	for _, v := range l.fields("mixtures") {
		if m := l.mixture(v, s); m != nil {
			s.Mixtures = append(s.Mixtures, m)
		}
	}
	for _, v := range l.fields("benchmarks") {
		if b := l.benchmark(v); b != nil {
			s.Benchmarks = append(s.Benchmarks, b)
		}
	}
	for _, v := range l.fields("backends") {
		if b := l.backend(v); b != nil {
			s.Backends = append(s.Backends, b)
		}
	}
	defaults, ok := l.trainingDefaults()
	if !ok {
		return s
	}
	for _, v := range l.fields("experiments") {
		if e := l.experiment(v, s, defaults); e != nil {
			s.Experiments = append(s.Experiments, e)
		}
	}
	return s
}
