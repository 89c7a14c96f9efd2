package provenance

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/crossin-lab/crossin/resultset"
	"github.com/crossin-lab/crossin/runner"
	"github.com/crossin-lab/crossin/runner/cache"
	"github.com/crossin-lab/crossin/runner/plan"
	"github.com/crossin-lab/crossin/schema"
	"github.com/crossin-lab/crossin/trainer/embedded"
)

// The tests share one run of the runner's miniature experiment (a random
// 1-layer model, 2 training steps, 5 questions; seconds on the embedded
// engine): a record and the cache that produced it.
var (
	miniOnce sync.Once
	mini     struct {
		dir    string // the spec's directory
		cache  *cache.Cache
		record []byte // results.json
		err    error
	}
)

// miniSpecText is runner/testdata/mini/mini.cue with its relative paths
// made absolute, so the spec can live in a temporary directory.
func miniSpecText(t *testing.T) string {
	src, err := os.ReadFile("../runner/testdata/mini/mini.cue")
	if err != nil {
		t.Fatal(err)
	}
	repo, _ := filepath.Abs("..")
	return strings.ReplaceAll(string(src), `"../../../`, `"`+repo+`/`)
}

func runMini(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("trains a model (seconds)")
	}
	text := miniSpecText(t)
	miniOnce.Do(func() {
		root, err := os.MkdirTemp("", "crossin-provenance-test-")
		if err != nil {
			mini.err = err
			return
		}
		mini.dir = filepath.Join(root, "spec")
		os.MkdirAll(mini.dir, 0o777)
		if mini.err = os.WriteFile(filepath.Join(mini.dir, "mini.cue"), []byte(text), 0o666); mini.err != nil {
			return
		}
		spec, err := schema.Load(mini.dir)
		if err != nil {
			mini.err = err
			return
		}
		if mini.cache, mini.err = cache.Open(filepath.Join(root, "cache")); mini.err != nil {
			return
		}
		prov, err := Describe(spec, "test")
		if err != nil {
			mini.err = err
			return
		}
		out := filepath.Join(root, "out")
		_, mini.err = runner.Run(context.Background(), spec, runner.RunOptions{
			Cache: mini.cache, OutDir: out, Jobs: 2, Version: "test",
			Backends:    runner.Backends{schema.BackendEmbedded: embedded.New()},
			PlanOptions: miniPlanOptions(),
			Provenance:  prov,
		})
		if mini.err == nil {
			mini.record, mini.err = os.ReadFile(filepath.Join(out, "mini", runner.ResultsJSON))
		}
	})
	if mini.err != nil {
		t.Fatal(mini.err)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if mini.dir != "" {
		os.RemoveAll(filepath.Dir(mini.dir))
	}
	os.Exit(code)
}

// miniPlanOptions are the code versions crossin run uses.
func miniPlanOptions() []plan.Option {
	return []plan.Option{
		plan.WithCodeVersion(plan.KindTrain, embedded.CodeVersion),
		plan.WithCodeVersion(plan.KindEval, embedded.CodeVersion),
	}
}

func record(t *testing.T) *resultset.Set {
	t.Helper()
	set, err := resultset.Decode(mini.record)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func verify(t *testing.T, rec *resultset.Set) *Verification {
	t.Helper()
	spec, src, err := LoadSpec(rec)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Cleanup()
	v, err := Verify(context.Background(), rec, spec, WithCache(mini.cache),
		WithPlanOptions(miniPlanOptions()...), WithSpecSource(src))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRecordHasProvenance(t *testing.T) {
	runMini(t)
	rec := record(t)
	if rec.Digest == "" || rec.Digest != rec.ComputeDigest() {
		t.Errorf("digest %q, rows hash to %q", rec.Digest, rec.ComputeDigest())
	}
	if len(rec.Layout) == 0 {
		t.Error("no layout recorded")
	}
	p := rec.Provenance
	if p == nil || p.Crossin.Version != "test" || len(p.Spec.Files) != 1 || !strings.HasPrefix(p.Spec.Hash, "sha256:") {
		t.Fatalf("provenance = %+v", p)
	}
	if len(rec.Rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rec.Rows))
	}
	for _, r := range rec.Rows {
		src := r.Source
		if src == nil {
			t.Fatalf("row %s has no source", r.Cell)
		}
		kinds := []string{}
		for _, s := range src.Stages {
			if len(s.Action) != 64 || len(s.Output) != 64 {
				t.Errorf("row %s stage %s: action %q output %q", r.Cell, s.ID, s.Action, s.Output)
			}
			kinds = append(kinds, s.Kind)
		}
		want := "model,data,train,eval,score"
		if r.Mixture == "none" {
			want = "model,eval,score" // untuned: no data, no training
		}
		if got := strings.Join(kinds, ","); got != want {
			t.Errorf("row %s stages %s, want %s", r.Cell, got, want)
		}
		if src.Backend != schema.BackendEmbedded || src.Engine != embedded.CodeVersion {
			t.Errorf("row %s: backend %q engine %q", r.Cell, src.Backend, src.Engine)
		}
	}
}

func TestVerifyVerifiesTheRecordOnItsCache(t *testing.T) {
	runMini(t)
	v := verify(t, record(t))
	if !v.OK() {
		t.Fatalf("not verified: %+v", v)
	}
	for _, r := range v.Rows {
		if r.Verdict != Verified {
			t.Errorf("%s: %s %v %v", r.Name(), r.Verdict, r.Mismatches, r.Reasons)
		}
	}
}

// Tampering with any recorded value makes verify fail and name the row
// and the field; the other rows stay verified.
func TestVerifyNamesTamperedField(t *testing.T) {
	runMini(t)
	const zeros = "0000000000000000000000000000000000000000000000000000000000000000"
	tests := []struct {
		name   string
		row    int
		tamper func(r *resultset.Row)
		field  string
	}{
		{"score", 0, func(r *resultset.Row) { r.Score.OverallAcc += 0.2 }, "score.overall_acc"},
		{"language accuracy", 2, func(r *resultset.Row) { r.Score.LanguageAcc["Chinese"] = 1 }, "score.language_acc"},
		{"train output", 1, func(r *resultset.Row) { r.Source.Stage("train").Output = zeros }, "train.output"},
		{"eval output", 0, func(r *resultset.Row) { r.Source.Stage("eval").Output = zeros }, "eval.output"},
		{"image digest", 2, func(r *resultset.Row) { r.Source.ImageDigest = "sha256:" + zeros }, "image_digest"},
		{"engine", 1, func(r *resultset.Row) { r.Source.Engine = "crossin-embedded/0" }, "engine"},
		{"model commit", 0, func(r *resultset.Row) { r.Source.ModelCommit = zeros[:40] }, "model_commit"},
		{"volume label", 2, func(r *resultset.Row) { r.Volume = "6000" }, "volume"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := record(t)
			tt.tamper(&rec.Rows[tt.row])
			v := verify(t, rec)
			if v.OK() {
				t.Fatal("a tampered record verified")
			}
			if v.DigestOK() {
				t.Error("the stored digest still matches tampered rows")
			}
			for i, r := range v.Rows {
				if i != tt.row {
					if r.Verdict != Verified {
						t.Errorf("untouched %s: %s %v %v", r.Name(), r.Verdict, r.Mismatches, r.Reasons)
					}
					continue
				}
				if r.Verdict != Mismatch {
					t.Fatalf("%s: verdict %s, want mismatch (%v)", r.Name(), r.Verdict, r.Reasons)
				}
				found := false
				for _, m := range r.Mismatches {
					found = found || m.Field == tt.field
				}
				if !found {
					t.Errorf("%s: mismatches %v do not name %s", r.Name(), r.Mismatches, tt.field)
				}
			}
		})
	}
}

// Editing one line of the spec makes verify say which rows would re-run
// and why (explain's comparison), and leaves the others verified.
func TestVerifyEditedSpecSaysWhatWouldRerun(t *testing.T) {
	runMini(t)
	path := filepath.Join(mini.dir, "mini.cue")
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.WriteFile(path, orig, 0o666) })
	edited := strings.Replace(string(orig), "learning_rate: 1e-3", "learning_rate: 2e-3", 1)
	if edited == string(orig) {
		t.Fatal("the mini spec has no learning_rate: 1e-3 line to edit")
	}
	if err := os.WriteFile(path, []byte(edited), 0o666); err != nil {
		t.Fatal(err)
	}
	v := verify(t, record(t))
	if v.OK() {
		t.Fatal("verified against an edited spec")
	}
	if v.Spec == nil || len(v.Spec.Changed) != 1 {
		t.Errorf("spec source %+v, want mini.cue changed", v.Spec)
	}
	for _, r := range v.Rows {
		tuned := !strings.Contains(r.Cell, "/none/")
		switch {
		case tuned && r.Verdict != WouldRerun:
			t.Errorf("%s: %s, want would re-run", r.Name(), r.Verdict)
		case tuned && !strings.Contains(strings.Join(r.Reasons, "\n"), "train.learning_rate: 0.001 -> 0.002"):
			t.Errorf("%s: reasons %q do not name the learning rate", r.Name(), r.Reasons)
		case !tuned && r.Verdict != Verified:
			t.Errorf("%s (untuned, unaffected): %s %v", r.Name(), r.Verdict, r.Reasons)
		}
	}
}

func TestReproduceIsByteIdentical(t *testing.T) {
	runMini(t)
	rec := record(t)
	spec, src, err := LoadSpec(rec)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Cleanup()
	c, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r, err := Reproduce(context.Background(), rec, spec, runner.RunOptions{
		Cache: c, OutDir: t.TempDir(), Jobs: 2, Version: "test",
		Backends:    runner.Backends{schema.BackendEmbedded: embedded.New()},
		PlanOptions: miniPlanOptions(),
		Provenance:  rec.Provenance,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Identical || len(r.Rows) > 0 || r.Ran == 0 || r.Cached != 0 {
		t.Fatalf("reproduction %+v", r)
	}
	got, err := os.ReadFile(r.Results)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(mini.record) {
		t.Errorf("reproduced results.json differs from the record:\n%s\n---\n%s", got, mini.record)
	}
}

func TestCompareNamesDifferingRowsAndFields(t *testing.T) {
	a := &resultset.Set{Experiment: "e", Rows: []resultset.Row{
		{Cell: "c1", Benchmark: "b", Status: "ok", Source: &resultset.Source{Stages: []resultset.Stage{{Kind: "train", ID: "t", Action: "a1", Output: "o1"}}}},
		{Cell: "c2", Benchmark: "b", Status: "ok"},
	}}
	b := &resultset.Set{Experiment: "e", Rows: []resultset.Row{
		{Cell: "c1", Benchmark: "b", Status: "ok", Source: &resultset.Source{Stages: []resultset.Stage{{Kind: "train", ID: "t", Action: "a1", Output: "o2"}}}},
		{Cell: "c2", Benchmark: "b", Status: "ok"},
	}}
	r := Compare(a, a)
	if !r.Identical || len(r.Rows) != 0 {
		t.Fatalf("a record differs from itself: %+v", r)
	}
	r = Compare(a, b)
	if r.Identical || len(r.Rows) != 1 || r.Rows[0].Cell != "c1" {
		t.Fatalf("comparison %+v", r)
	}
	if f := r.Rows[0].Fields; len(f) != 1 || f[0].Field != "source.stages[0].output" || f[0].Recorded != `"o1"` || f[0].Found != `"o2"` {
		t.Errorf("fields %+v", f)
	}
}
