package plan

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/crossin-lab/crossin/schema"
)

// copyDir copies the test grid into a fresh directory, so tests can edit it.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func build(t testing.TB, dir string, opts ...Option) *Plan {
	t.Helper()
	spec, err := schema.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Build(spec, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func keys(p *Plan) map[string]string {
	m := map[string]string{}
	for _, s := range p.Stages {
		m[s.ID] = s.ActionID
	}
	return m
}

func TestBuildGrid(t *testing.T) {
	p := build(t, "testdata/grid")
	count := map[Kind]int{}
	for _, s := range p.Stages {
		count[s.Kind]++
	}
	// 2 models; data for base and x2x (the empty mixture has none);
	// train 2 models x 2 tuned mixtures x 2 seeds; eval and score: 8
	// trained x 2 benchmarks + 2 untuned models x 2 benchmarks (the
	// untuned eval ignores the seed, so both seeds share it).
	want := map[Kind]int{KindModel: 2, KindData: 2, KindTrain: 8, KindEval: 20, KindScore: 20, KindReport: 1}
	if !reflect.DeepEqual(count, want) {
		t.Errorf("stage counts %v, want %v", count, want)
	}
	if got := p.Stage("model/tiny").Cells; len(got) != 6 {
		t.Errorf("model/tiny used by %d cells, want 6: %v", len(got), got)
	}
	if got := p.Stage("data/x2x").Cells; len(got) != 4 {
		t.Errorf("data/x2x used by %d cells, want 4", len(got))
	}
	if got := p.Stage("eval/tiny/none/mmlu").Cells; !reflect.DeepEqual(got, []string{"grid/tiny/none/s1", "grid/tiny/none/s2"}) {
		t.Errorf("untuned eval cells %v", got)
	}
	// Dependency order: every dep precedes its dependent.
	pos := map[string]int{}
	for i, s := range p.Stages {
		pos[s.ID] = i
	}
	for _, s := range p.Stages {
		for _, d := range s.Deps {
			if pos[d] >= pos[s.ID] {
				t.Errorf("%s comes before its dependency %s", s.ID, d)
			}
		}
	}
	c := p.Experiments[0].Cells[0]
	if c.ID != "tiny/none/s1" {
		t.Errorf("first cell %s, want the grid's first (spec order)", c.ID)
	}
	tr := p.Stage("train/tiny/x2x/s2")
	if tr.Train.Train.MaxLength != 64 || tr.Train.Train.LoRA.R != 64 || tr.Train.Seed != 2 {
		t.Errorf("train params not layered: %+v", tr.Train)
	}
}

func TestKeysIgnorePathsAndAreDeterministic(t *testing.T) {
	a := build(t, "testdata/grid")
	b := build(t, copyDir(t, "testdata/grid"))
	if !reflect.DeepEqual(keys(a), keys(b)) {
		t.Fatal("moving the spec changed action keys")
	}
	ja, _ := json.Marshal(a.Stages)
	jb, _ := json.Marshal(build(t, "testdata/grid").Stages)
	if string(ja) != string(jb) {
		t.Fatal("two builds of the same spec differ")
	}
}

// changed returns the stage IDs whose keys differ between two plans.
func changed(a, b *Plan) []string {
	ka, kb := keys(a), keys(b)
	var out []string
	for id, k := range kb {
		if ka[id] != k {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

func TestOneTrainingParamChangesExactlyDownstream(t *testing.T) {
	dir := copyDir(t, "testdata/grid")
	before := build(t, dir)
	override := `experiments: grid: cells: "tiny/x2x/s1": training: learning_rate: 3e-4` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "override.cue"), []byte(override), 0o644); err != nil {
		t.Fatal(err)
	}
	after := build(t, dir)
	want := []string{
		"eval/tiny/x2x/s1/logiqa", "eval/tiny/x2x/s1/mmlu",
		"report/grid",
		"score/tiny/x2x/s1/logiqa", "score/tiny/x2x/s1/mmlu",
		"train/tiny/x2x/s1",
	}
	if got := changed(before, after); !reflect.DeepEqual(got, want) {
		t.Errorf("changed keys:\n got %v\nwant %v", got, want)
	}
	if lr := after.Stage("train/tiny/x2x/s1").Train.Train.LearningRate; lr != 3e-4 {
		t.Errorf("learning rate %v, want 3e-4", lr)
	}

	// explain names the parameter and traces the evals to the train stage.
	rec := OpenRecords(t.TempDir())
	if err := rec.SavePlan(before); err != nil {
		t.Fatal(err)
	}
	ex, err := Explain(after, rec, "grid/tiny/x2x/s1")
	if err != nil {
		t.Fatal(err)
	}
	byStage := map[string]Explanation{}
	for _, e := range ex {
		byStage[e.Stage] = e
	}
	tr := byStage["train/tiny/x2x/s1"]
	if len(tr.Changes) != 1 || tr.Changes[0].Field() != "train.learning_rate" || tr.Changes[0].New != "0.0003" {
		t.Errorf("train explanation %+v, want one change of train.learning_rate to 0.0003", tr.Changes)
	}
	ev := byStage["eval/tiny/x2x/s1/mmlu"]
	if !reflect.DeepEqual(ev.Because, []string{"train/tiny/x2x/s1"}) {
		t.Errorf("eval explained by %v, want the train stage", ev.Because)
	}
	for _, id := range []string{"model/tiny", "data/x2x"} {
		if !byStage[id].Unchanged() {
			t.Errorf("%s: want unchanged, got %+v", id, byStage[id])
		}
	}
}

func TestCheckpointingIsNotInKeys(t *testing.T) {
	dir := copyDir(t, "testdata/grid")
	before := build(t, dir)
	override := `experiments: grid: training: checkpoint_every: 10` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "override.cue"), []byte(override), 0o644); err != nil {
		t.Fatal(err)
	}
	after := build(t, dir)
	if got := changed(before, after); len(got) != 0 {
		t.Errorf("checkpoint_every changed keys %v", got)
	}
	if after.Stage("train/tiny/x2x/s1").Train.Train.CheckpointEvery != 10 {
		t.Error("checkpoint_every not passed to the trainer")
	}
}

func TestContentCountsNotMtime(t *testing.T) {
	dir := copyDir(t, "testdata/grid")
	before := build(t, dir)
	f := filepath.Join(dir, "data", "zh.jsonl")
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(f, future, future); err != nil {
		t.Fatal(err)
	}
	if got := changed(before, build(t, dir)); len(got) != 0 {
		t.Errorf("touching a file changed %v", got)
	}
	if err := os.WriteFile(f, []byte(`{"id":"1","instruction":"说","input":"","output":"好"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := changed(before, build(t, dir))
	for _, id := range got {
		if !strings.Contains(id, "/x2x") && id != "report/grid" {
			t.Errorf("editing the Chinese data changed %s", id)
		}
	}
	if len(got) != 1+4+8+8+1 { // data/x2x, 4 trains, 8 evals, 8 scores, report
		t.Errorf("editing the Chinese data changed %d keys, want 22: %v", len(got), got)
	}
}

type fakeCache map[string]string

func (c fakeCache) Lookup(id string) (string, bool) { out, ok := c[id]; return out, ok }

func TestCacheStatusAndEarlyCutoff(t *testing.T) {
	p := build(t, "testdata/grid")
	c := fakeCache{}
	// The model stages are built.
	c[p.Stage("model/tiny").ActionID] = "out-tiny"
	c[p.Stage("model/tiny2").ActionID] = "out-tiny2"
	p = build(t, "testdata/grid", WithCache(c))
	if s := p.Stage("model/tiny"); s.Status != StatusCached || s.OutputID != "out-tiny" {
		t.Errorf("model/tiny: %s %s", s.Status, s.OutputID)
	}
	ev := p.Stage("eval/tiny/none/mmlu")
	if ev.Pending {
		t.Error("untuned eval should have its only input (the model) known")
	}
	if ev.Status != StatusStale {
		t.Errorf("eval status %s, want stale", ev.Status)
	}
	in, _ := ev.Key.Get(InputPrefix + "model")
	if string(in) != `{"output":"out-tiny"}` {
		t.Errorf("input component %s", in)
	}
	tr := p.Stage("train/tiny/base/s1")
	if !tr.Pending {
		t.Error("train with unbuilt data should be pending")
	}
	// The executor builds data/base; rekeying uses its output. A rebuilt
	// dependency with the same output gives the same key (early cutoff).
	outs := map[string]string{"data/base": "out-data"}
	p.Rekey(OutputsFromMap(outs))
	k1 := tr.ActionID
	if tr.Pending {
		t.Error("train still pending after its inputs were built")
	}
	p.Rekey(OutputsFromMap(outs))
	if tr.ActionID != k1 {
		t.Error("rekey is not stable")
	}
	outs["data/base"] = "other"
	p.Rekey(OutputsFromMap(outs))
	if tr.ActionID == k1 {
		t.Error("a different upstream output must change the key")
	}
}

func TestImageDigestsNotTags(t *testing.T) {
	dir := copyDir(t, "testdata/grid")
	add := func(backend string) {
		src := "backends: gpu: " + backend + "\nexperiments: grid: backend: \"gpu\"\n"
		if err := os.WriteFile(filepath.Join(dir, "backend.cue"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	add(`{kind: "container", image: "example.org/trainer:1.0"}`)
	p := build(t, dir, WithCache(fakeCache{}))
	tr := p.Stage("train/tiny/x2x/s1")
	if tr.Status != StatusUnresolved || len(tr.Unresolved) == 0 {
		t.Errorf("tagged image: status %s, unresolved %v", tr.Status, tr.Unresolved)
	}
	if strings.Contains(string(tr.Key.Canonical()), "1.0") {
		t.Error("image tag entered the key")
	}
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	resolved := build(t, dir, WithImageResolver(func(_ context.Context, ref string) (string, error) {
		return digest, nil
	}))
	add(`{kind: "container", image: "example.org/trainer@` + digest + `"}`)
	pinned := build(t, dir)
	a, b := resolved.Stage("train/tiny/x2x/s1"), pinned.Stage("train/tiny/x2x/s1")
	if a.ActionID != b.ActionID || a.ImageDigest != digest || len(b.Unresolved) != 0 {
		t.Errorf("resolved tag and pinned digest should give the same key: %s %s %v", a.ActionID, b.ActionID, b.Unresolved)
	}
	// Only stages that run on the backend carry the image.
	if strings.Contains(string(pinned.Stage("data/x2x").Key.Canonical()), "sha256:0123") {
		t.Error("data stage keyed on the trainer image")
	}
}

func TestExperimentsDedupAndRename(t *testing.T) {
	dir := copyDir(t, "testdata/grid")
	// A second experiment shares the model and data stages, and its
	// tiny/base/s1 cell trains differently: that stage gets its own ID.
	src := `experiments: other: {
	models: ["tiny"]
	mixtures: ["base"]
	seeds: [1]
	benchmarks: ["mmlu"]
	training: {max_length: 64, batch_size: 2, epochs: 2}
}
`
	if err := os.WriteFile(filepath.Join(dir, "other.cue"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	p := build(t, dir)
	if got := p.Stage("data/base").Cells; !contains(got, "other/tiny/base/s1") || !contains(got, "grid/tiny/base/s1") {
		t.Errorf("data/base not shared: %v", got)
	}
	if p.Stage("train/tiny/base/s1@other") == nil {
		t.Error("differing train stage of experiment other not renamed")
	}
	if _, _, err := p.Cell("tiny/base/s1"); err == nil || !strings.Contains(err.Error(), "several experiments") {
		t.Errorf("ambiguous cell lookup: %v", err)
	}
	if _, err := Build(p.Spec, WithExperiments("nope")); err == nil {
		t.Error("unknown experiment accepted")
	}
}

func contains(list []string, x string) bool {
	for _, y := range list {
		if y == x {
			return true
		}
	}
	return false
}

func TestDiff(t *testing.T) {
	d := func(comps ...string) Description {
		var out Description
		out.Version, out.Kind = KeyVersion, KindTrain
		for i := 0; i < len(comps); i += 2 {
			out.Components = append(out.Components, Component{Name: comps[i], Value: json.RawMessage(comps[i+1])})
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		old, new Description
		want     []string
	}{
		{"same", d("a", `1`), d("a", `1`), nil},
		{"scalar", d("seed", `1`), d("seed", `2`), []string{"seed: 1 -> 2"}},
		{"nested", d("train", `{"lora":{"r":8,"alpha":16},"lr":1}`), d("train", `{"lora":{"r":16,"alpha":16},"lr":1}`), []string{"train.lora.r: 8 -> 16"}},
		{"number spelling", d("x", `{"lr":0.0001}`), d("x", `{"lr":1e-4}`), nil},
		{"added field", d("x", `{}`), d("x", `{"a":true}`), []string{"x.a: added true"}},
		{"removed component", d("x", `1`, "y", `2`), d("x", `1`), []string{"y: removed (was 2)"}},
		{"list", d("langs", `["en"]`), d("langs", `["en","zh"]`), []string{`langs: ["en"] -> ["en","zh"]`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, c := range Diff(tc.old, tc.new) {
				got = append(got, c.String())
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRecords(t *testing.T) {
	rec := OpenRecords(t.TempDir())
	if _, ok, err := rec.Load("train/a/b/s1"); ok || err != nil {
		t.Fatalf("empty store: ok %v err %v", ok, err)
	}
	d := Description{Version: KeyVersion, Kind: KindTrain, Components: []Component{{Name: "seed", Value: json.RawMessage(`1`)}}}
	if err := rec.Save("train/a/b/s1", d); err != nil {
		t.Fatal(err)
	}
	got, ok, err := rec.Load("train/a/b/s1")
	if err != nil || !ok || got.ActionID() != d.ActionID() {
		t.Fatalf("round trip: %v %v %+v", ok, err, got)
	}
	ents, _ := os.ReadDir(rec.Dir)
	if len(ents) != 1 {
		t.Errorf("record dir has %d entries (temp files left?)", len(ents))
	}
}

func TestCanonicalKey(t *testing.T) {
	d := Description{Version: KeyVersion, Kind: KindData, Components: []Component{
		{Name: "m", Value: value(map[string]any{"b": 1, "a": "<x>"})},
	}}
	want := `{"components":[{"name":"m","value":{"a":"<x>","b":1}}],"kind":"data","version":"crossin.key/v2"}`
	if got := string(d.Canonical()); got != want {
		t.Errorf("canonical\n got %s\nwant %s", got, want)
	}
	if len(d.ActionID()) != 64 {
		t.Errorf("action ID %q", d.ActionID())
	}
}

// paperSpec loads experiments/paper.cue, which names only hub data.
func paperSpec(b testing.TB) *schema.Spec {
	b.Helper()
	spec, err := schema.Load("../../experiments/paper.cue")
	if err != nil {
		b.Fatal(err)
	}
	return spec
}

func TestPaperGrid(t *testing.T) {
	p, err := Build(paperSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	e := p.Experiments[0]
	// 3 models x (Base + 4 variant sets x 4 volumes) x 1 seed.
	if len(e.Cells) != 51 {
		t.Errorf("%d cells, want 51", len(e.Cells))
	}
	if n := len(p.Stage("data/base").Cells); n != 3 {
		t.Errorf("data/base shared by %d cells, want 3", n)
	}
	if s := p.Stage("data/x2x+trans-all"); s == nil || len(s.Data.Mixture.Variants) != 2 {
		t.Errorf("data/x2x+trans-all: %+v", s)
	}

	// Resolvers (which may use the network) are asked once per reference:
	// 3 models, 2 data sets, SeaEval's repository, the image.
	var revs, images int
	p, err = Build(paperSpec(t),
		WithRevisionResolver(func(_ context.Context, kind, repo, rev string) (string, error) {
			revs++
			return strings.Repeat("a", 40), nil
		}),
		WithImageResolver(func(_ context.Context, ref string) (string, error) {
			images++
			return "sha256:" + strings.Repeat("b", 64), nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	if revs != 6 || images != 1 {
		t.Errorf("resolver calls: %d revisions (want 6), %d images (want 1)", revs, images)
	}
	for _, s := range p.Stages {
		if len(s.Unresolved) > 0 {
			t.Errorf("%s unresolved with resolvers: %v", s.ID, s.Unresolved)
		}
	}
	if m := p.Stage("model/gemma-2b").Model; m.Commit != strings.Repeat("a", 40) {
		t.Errorf("model commit %q", m.Commit)
	}
}

// BenchmarkBuildPaper plans the paper grid from a loaded spec.
func BenchmarkBuildPaper(b *testing.B) {
	spec := paperSpec(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build(spec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadAndBuildPaper includes evaluating the CUE (what `crossin
// plan experiments/paper.cue` does).
func BenchmarkLoadAndBuildPaper(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build(paperSpec(b)); err != nil {
			b.Fatal(err)
		}
	}
}

// A resolver that hangs (an offline machine) costs at most the budget
// once, and the plan still comes out, with the references unresolved.
func TestResolveBudget(t *testing.T) {
	calls := 0
	hang := func(ctx context.Context, kind, repo, rev string) (string, error) {
		calls++
		<-ctx.Done()
		return "", ctx.Err()
	}
	start := time.Now()
	p, err := Build(paperSpec(t), WithRevisionResolver(hang), WithResolveTimeout(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("build took %v", d)
	}
	if calls != 1 {
		t.Errorf("%d resolver calls after the budget ran out, want 1", calls)
	}
	if s := p.Stage("model/llama-2-7b"); len(s.Unresolved) == 0 {
		t.Error("model/llama-2-7b should be unresolved")
	}
}

func TestHashMemo(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "w.bin")
	if err := os.WriteFile(f, []byte("weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(f, old, old)
	m := &HashMemo{Dir: filepath.Join(dir, "memo")}
	h1, err := m.HashFile(f)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := HashFile(f)
	if h1 != want {
		t.Fatalf("memo hash %s, want %s", h1, want)
	}
	ents, _ := filepath.Glob(filepath.Join(dir, "memo", "*", "*"))
	if len(ents) != 1 {
		t.Fatalf("memo entries %v", ents)
	}
	// A changed file (new size and mtime) is re-hashed.
	if err := os.WriteFile(f, []byte("other weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(f, old.Add(time.Minute), old.Add(time.Minute))
	h2, err := m.HashFile(f)
	if err != nil || h2 == h1 {
		t.Fatalf("changed file: %s %v", h2, err)
	}
	// A recently written file is not remembered.
	g := filepath.Join(dir, "new.bin")
	os.WriteFile(g, []byte("x"), 0o644)
	if _, err := m.HashFile(g); err != nil {
		t.Fatal(err)
	}
	ents, _ = filepath.Glob(filepath.Join(dir, "memo", "*", "*"))
	if len(ents) != 2 {
		t.Errorf("memo entries %d, want 2 (the fresh file is not remembered)", len(ents))
	}
}
