package schema

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/parser"

	"github.com/crossin-lab/crossin/trainer"
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
		var b Backend
		if l.decodeInto(v, &b) {
			b.Name, b.Pos = label(v), l.pos(v)
			if b.Kind == BackendContainer && b.Runtime == "" {
				b.Runtime = "podman"
			}
			s.Backends = append(s.Backends, &b)
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

func (l *loader) model(v cue.Value) *Model {
	var raw struct {
		Family   string     `json:"family"`
		DType    string     `json:"dtype"`
		Template string     `json:"template"`
		Hub      *Hub       `json:"hub"`
		Path     string     `json:"path"`
		Init     *ModelInit `json:"init"`
	}
	if !l.decodeInto(v, &raw) {
		return nil
	}
	m := &Model{Name: label(v), Family: raw.Family, DType: raw.DType, Template: raw.Template, Hub: raw.Hub, Init: raw.Init, Pos: l.pos(v)}
	l.exactlyOne(v, "hub", "path", "init")
	if raw.Path != "" {
		pv := v.LookupPath(cue.ParsePath("path"))
		m.Path = l.localPath(pv, raw.Path)
		l.mustExist(pv, m.Path, true)
	}
	if m.Init != nil {
		tv := v.LookupPath(cue.ParsePath("init.tokenizer"))
		m.Init.Tokenizer = l.localPath(tv, m.Init.Tokenizer)
		l.mustExist(tv, m.Init.Tokenizer, false)
		if m.Init.NumAttentionHeads > 0 && m.Init.HiddenSize%m.Init.NumAttentionHeads != 0 {
			l.is.add(l.pos(v), pathOf(v)+".init", "hidden_size %d is not a multiple of num_attention_heads %d", m.Init.HiddenSize, m.Init.NumAttentionHeads)
		}
		if m.Init.NumKeyValueHeads > 0 && m.Init.NumAttentionHeads%m.Init.NumKeyValueHeads != 0 {
			l.is.add(l.pos(v), pathOf(v)+".init", "num_attention_heads %d is not a multiple of num_key_value_heads %d", m.Init.NumAttentionHeads, m.Init.NumKeyValueHeads)
		}
	}
	return m
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

func (l *loader) dataSource(v cue.Value) *DataSource {
	var d DataSource
	if !l.decodeInto(v, &d) {
		return nil
	}
	d.Name, d.Pos = label(v), l.pos(v)
	l.exactlyOne(v, "files", "path")
	if len(d.Files) > 0 {
		keys := make([]string, 0, len(d.Files))
		for k := range d.Files {
			keys = append(keys, k)
		}
		sortLangs(keys)
		if len(d.Languages) == 0 {
			d.Languages = keys
		} else if !sameSet(keys, d.Languages) {
			l.is.add(l.pos(v.LookupPath(cue.ParsePath("languages"))), pathOf(v)+".languages", "languages %s differ from the languages of files (%s)", strings.Join(d.Languages, ", "), strings.Join(keys, ", "))
		}
		if d.Hub == nil {
			for _, k := range keys {
				fv := v.LookupPath(cue.MakePath(cue.Str("files"), cue.Str(k)))
				d.Files[k] = l.localPath(fv, d.Files[k])
				l.mustExist(fv, d.Files[k], false)
			}
		}
	}
	if d.Path != "" {
		if len(d.Languages) == 0 {
			l.is.add(l.pos(v), pathOf(v)+".languages", "languages must be given when path is used")
		}
		if d.Hub == nil {
			pv := v.LookupPath(cue.ParsePath("path"))
			d.Path = l.localPath(pv, d.Path)
			switch d.Format {
			case "xllm": // a directory of per-language files
				l.mustExist(pv, d.Path, true)
			case "parquet": // one file or a directory of shards
				if _, err := os.Stat(d.Path); err != nil {
					l.is.add(l.pos(pv), pathOf(pv), "%s does not exist", l.show(d.Path))
				}
			default:
				l.mustExist(pv, d.Path, false)
			}
		}
	}
	if dup := duplicate(d.Languages); dup != "" {
		l.is.add(l.pos(v.LookupPath(cue.ParsePath("languages"))), pathOf(v)+".languages", "language %q listed twice", dup)
	}
	return &d
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

func (l *loader) mixture(v cue.Value, s *Spec) *Mixture {
	m := &Mixture{Name: label(v), Pos: l.pos(v)}
	if bv := v.LookupPath(cue.ParsePath("base")); bv.Exists() {
		m.Base = l.part(bv, s, "")
	}
	for _, name := range Variants {
		pv := v.LookupPath(cue.MakePath(cue.Str("variants"), cue.Str(name)))
		if !pv.Exists() {
			continue
		}
		if p := l.part(pv, s, name); p != nil {
			m.Variants = append(m.Variants, VariantPart{Variant: name, Part: *p})
		}
	}
	return m
}

func (l *loader) part(v cue.Value, s *Spec, variant string) *Part {
	var p Part
	if !l.decodeInto(v, &p) {
		return nil
	}
	src := s.DataSource(p.Source)
	sv := v.LookupPath(cue.ParsePath("source"))
	if src == nil {
		l.is.add(l.pos(sv), pathOf(sv), "unknown data source %q (declare it under data: %s)", p.Source, names(s.Data))
		return &p
	}
	lv := v.LookupPath(cue.ParsePath("languages"))
	if len(p.Languages) == 0 {
		p.Languages = append([]string(nil), src.Languages...)
	}
	for i, lang := range p.Languages {
		if !contains(src.Languages, lang) {
			ev := lv.LookupPath(cue.MakePath(cue.Index(i)))
			l.is.add(l.pos(ev), pathOf(lv), "language %q is not in data source %q (it has %s)", lang, p.Source, strings.Join(src.Languages, ", "))
		}
	}
	if dup := duplicate(p.Languages); dup != "" {
		l.is.add(l.pos(lv), pathOf(lv), "language %q listed twice", dup)
	}
	switch variant {
	case "":
		if len(p.Languages) != 1 {
			l.is.add(l.pos(v), pathOf(v), "base takes one language, got %s (the paper's Base is English only)", strings.Join(p.Languages, ", "))
		}
	case "en2x", "x2en":
		if !contains(p.Languages, "en") || len(p.Languages) < 2 {
			l.is.add(l.pos(v), pathOf(v), "%s needs English plus at least one other language, got %s", variant, strings.Join(p.Languages, ", "))
		}
	case "x2x", "trans":
		if len(p.Languages) < 2 {
			l.is.add(l.pos(v), pathOf(v), "%s needs at least two languages, got %s", variant, strings.Join(p.Languages, ", "))
		}
	}
	if p.Direction != "" && variant != "trans" {
		dv := v.LookupPath(cue.ParsePath("direction"))
		l.is.add(l.pos(dv), pathOf(dv), "direction applies to trans only (remove it here)")
	}
	if p.AllowSame && variant != "x2x" {
		av := v.LookupPath(cue.ParsePath("allow_same"))
		l.is.add(l.pos(av), pathOf(av), "allow_same applies to x2x only (remove it here)")
	}
	return &p
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

func (m *Model) name() string      { return m.Name }
func (d *DataSource) name() string { return d.Name }
func (m *Mixture) name() string    { return m.Name }
func (b *Benchmark) name() string  { return b.Name }
func (b *Backend) name() string    { return b.Name }

func (l *loader) benchmark(v cue.Value) *Benchmark {
	var raw struct {
		Task           string   `json:"task"`
		Languages      []string `json:"languages"`
		PromptTemplate int      `json:"prompt_template"`
		Prompt         string   `json:"prompt"`
		Mode           string   `json:"mode"`
		MaxNewTokens   int      `json:"max_new_tokens"`
		LengthNorm     bool     `json:"length_norm"`
		Limit          int      `json:"limit"`
		BatchSize      int      `json:"batch_size"`
		ConsistencyK   int      `json:"consistency_k"`
		Path           string   `json:"path"`
		Hub            *Hub     `json:"hub"`
	}
	if !l.decodeInto(v, &raw) {
		return nil
	}
	b := &Benchmark{
		Name: label(v), Task: raw.Task, ConsistencyK: raw.ConsistencyK, Hub: raw.Hub, Pos: l.pos(v),
		Eval: trainer.EvalParams{
			Benchmark: raw.Task, Languages: raw.Languages, PromptTemplate: raw.PromptTemplate,
			Prompt: raw.Prompt, Mode: raw.Mode, MaxNewTokens: raw.MaxNewTokens,
			LengthNorm: raw.LengthNorm, Limit: raw.Limit, BatchSize: raw.BatchSize,
		},
	}
	l.exactlyOne(v, "path", "hub")
	lv := v.LookupPath(cue.ParsePath("languages"))
	if len(raw.Languages) == 0 {
		l.is.add(l.pos(v), pathOf(v)+".languages", "no languages to evaluate")
	}
	if dup := duplicate(raw.Languages); dup != "" {
		l.is.add(l.pos(lv), pathOf(lv), "language %q listed twice", dup)
	}
	if raw.ConsistencyK > len(raw.Languages) && len(raw.Languages) > 0 {
		kv := v.LookupPath(cue.ParsePath("consistency_k"))
		l.is.add(l.pos(kv), pathOf(kv), "consistency_k %d is more than the %d languages evaluated", raw.ConsistencyK, len(raw.Languages))
	}
	if raw.Path != "" {
		pv := v.LookupPath(cue.ParsePath("path"))
		b.Path = l.localPath(pv, raw.Path)
		l.mustExist(pv, b.Path, false)
		if have := fileLanguages(b.Path); len(have) > 0 {
			for i, lang := range raw.Languages {
				if !contains(have, lang) {
					ev := lv.LookupPath(cue.MakePath(cue.Index(i)))
					l.is.add(l.pos(ev), pathOf(lv), "language %q is not in the benchmark data %s (it has %s)", lang, l.show(b.Path), strings.Join(have, ", "))
				}
			}
		}
	}
	return b
}

// seaEvalOrder is SeaEval's language order.
var seaEvalOrder = []string{"English", "Chinese", "Vietnamese", "Spanish", "Indonesian", "Malay", "Filipino"}

// fileLanguages reads the first record of a SeaEval-format JSONL file
// (one object per question with a key per language) and returns the
// languages it has, or nil when the file cannot tell.
func fileLanguages(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var rec map[string]json.RawMessage
		if json.Unmarshal([]byte(line), &rec) != nil {
			return nil
		}
		var out []string
		for _, lang := range seaEvalOrder {
			if _, ok := rec[lang]; ok {
				out = append(out, lang)
			}
		}
		return out
	}
	return nil
}

func (l *loader) trainingDefaults() (trainer.TrainParams, bool) {
	var t trainer.TrainParams
	v := l.root.LookupPath(cue.ParsePath("#Training"))
	if err := v.Decode(&t); err != nil {
		l.is.add(Pos{Filename: SchemaFile}, "#Training", "decoding defaults: %v", err)
		return t, false
	}
	return t, true
}

// overlay applies a #TrainingPatch value to t: fields the patch sets
// replace t's, nested structs merge field by field, lists are replaced.
func (l *loader) overlay(t trainer.TrainParams, patch cue.Value) trainer.TrainParams {
	t.LoRA.TargetModules = append([]string(nil), t.LoRA.TargetModules...)
	t.LoRA.ModulesToSave = append([]string(nil), t.LoRA.ModulesToSave...)
	if !patch.Exists() {
		return t
	}
	b, err := patch.MarshalJSON()
	if err != nil {
		l.is.add(l.pos(patch), pathOf(patch), "%v", err)
		return t
	}
	// Lists replace rather than extend: clear the ones the patch sets.
	var probe struct {
		LoRA struct {
			TargetModules json.RawMessage `json:"target_modules"`
			ModulesToSave json.RawMessage `json:"modules_to_save"`
		} `json:"lora"`
	}
	_ = json.Unmarshal(b, &probe)
	if probe.LoRA.TargetModules != nil {
		t.LoRA.TargetModules = nil
	}
	if probe.LoRA.ModulesToSave != nil {
		t.LoRA.ModulesToSave = nil
	}
	if err := json.Unmarshal(b, &t); err != nil {
		l.is.add(l.pos(patch), pathOf(patch), "%v", err)
	}
	return t
}

// gridOrder sorts an experiment's cells in grid order (models, then
// mixtures, then seeds, as listed), followed by the cells the spec adds
// outside the grid in CUE's (deterministic) field order. CUE orders fields
// by first mention, so a cell the spec overrides would otherwise jump
// ahead of the grid.
func (l *loader) gridOrder(v cue.Value, e *Experiment) {
	var models, mixtures []string
	var seeds []int64
	_ = v.LookupPath(cue.ParsePath("models")).Decode(&models)
	_ = v.LookupPath(cue.ParsePath("mixtures")).Decode(&mixtures)
	_ = v.LookupPath(cue.ParsePath("seeds")).Decode(&seeds)
	rank := map[string]int{}
	n := 0
	for _, m := range models {
		for _, x := range mixtures {
			for _, s := range seeds {
				id := fmt.Sprintf("%s/%s/s%d", m, x, s)
				if _, ok := rank[id]; !ok {
					rank[id] = n
					n++
				}
			}
		}
	}
	pos := func(c *Cell) int {
		if r, ok := rank[c.ID]; ok {
			return r
		}
		return n
	}
	sort.SliceStable(e.Cells, func(i, j int) bool { return pos(e.Cells[i]) < pos(e.Cells[j]) })
}

func (l *loader) experiment(v cue.Value, s *Spec, defaults trainer.TrainParams) *Experiment {
	var raw struct {
		Description string          `json:"description"`
		Backend     string          `json:"backend"`
		Benchmarks  []string        `json:"benchmarks"`
		Report      json.RawMessage `json:"report"`
		Remote      string          `json:"remote"`
	}
	if !l.decodeInto(v, &raw) {
		return nil
	}
	e := &Experiment{Name: label(v), Description: raw.Description, Backend: raw.Backend, Benchmarks: raw.Benchmarks,
		Report: raw.Report, Remote: raw.Remote, Pos: l.pos(v)}
	if bv := v.LookupPath(cue.ParsePath("backend")); s.Backend(raw.Backend) == nil {
		l.is.add(l.pos(bv), pathOf(bv), "unknown backend %q (declared: %s)", raw.Backend, names(s.Backends))
	}
	bl := v.LookupPath(cue.ParsePath("benchmarks"))
	if len(raw.Benchmarks) == 0 {
		l.is.add(l.pos(v), pathOf(bl), "no benchmarks to evaluate")
	}
	for i, b := range raw.Benchmarks {
		if s.Benchmark(b) == nil {
			l.is.add(l.pos(bl.LookupPath(cue.MakePath(cue.Index(i)))), pathOf(bl), "unknown benchmark %q (declared: %s)", b, names(s.Benchmarks))
		}
	}
	if dup := duplicate(raw.Benchmarks); dup != "" {
		l.is.add(l.pos(bl), pathOf(bl), "benchmark %q listed twice", dup)
	}
	// Check the grid lists element by element, so an unknown name is
	// reported where it is written rather than at every generated cell.
	badModel, badMixture := map[string]bool{}, map[string]bool{}
	for _, list := range []struct {
		field string
		known func(string) bool
		what  string
		all   string
		bad   map[string]bool
	}{
		{"models", func(n string) bool { return s.Model(n) != nil }, "model", names(s.Models), badModel},
		{"mixtures", func(n string) bool { return s.Mixture(n) != nil }, "mixture", names(s.Mixtures), badMixture},
	} {
		lv := v.LookupPath(cue.ParsePath(list.field))
		var got []string
		_ = lv.Decode(&got)
		for i, n := range got {
			if !list.known(n) {
				list.bad[n] = true
				l.is.add(l.pos(lv.LookupPath(cue.MakePath(cue.Index(i)))), pathOf(lv), "unknown %s %q (declared: %s)", list.what, n, list.all)
			}
		}
		if dup := duplicate(got); dup != "" {
			l.is.add(l.pos(lv), pathOf(lv), "%s %q listed twice", list.what, dup)
		}
	}
	base := l.overlay(defaults, v.LookupPath(cue.ParsePath("training")))
	cells := v.LookupPath(cue.ParsePath("cells"))
	it, err := cells.Fields()
	if err != nil {
		l.is.add(l.pos(cells), pathOf(cells), "%v", err)
		return e
	}
	for it.Next() {
		cv := it.Value()
		var rc struct {
			Model   string            `json:"model"`
			Mixture string            `json:"mixture"`
			Seed    int64             `json:"seed"`
			Labels  map[string]string `json:"labels"`
		}
		if !l.decodeInto(cv, &rc) {
			continue
		}
		// A generated cell is written in the schema's comprehension;
		// its position is then the experiment's. (Asking CUE for every
		// conjunct's position is costly on a large grid.)
		cpos := e.Pos
		if p := cv.Pos(); isUserFile(p.Filename()) {
			cpos = toPos(p)
		}
		c := &Cell{ID: it.Selector().Unquoted(), Model: rc.Model, Mixture: rc.Mixture, Seed: rc.Seed, Labels: rc.Labels, Pos: cpos}
		if s.Model(c.Model) == nil && !badModel[c.Model] {
			mv := cv.LookupPath(cue.ParsePath("model"))
			l.is.add(l.pos(mv), pathOf(mv), "unknown model %q (declared: %s)", c.Model, names(s.Models))
		}
		if s.Mixture(c.Mixture) == nil && !badMixture[c.Mixture] {
			mv := cv.LookupPath(cue.ParsePath("mixture"))
			l.is.add(l.pos(mv), pathOf(mv), "unknown mixture %q (declared: %s)", c.Mixture, names(s.Mixtures))
		}
		c.Train = l.overlay(base, cv.LookupPath(cue.ParsePath("training")))
		e.Cells = append(e.Cells, c)
	}
	l.gridOrder(v, e)
	if len(e.Cells) == 0 {
		l.is.add(l.pos(v), pathOf(v), "experiment has no cells (give models and mixtures, or cells)")
	}
	return e
}
