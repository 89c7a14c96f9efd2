package runner

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/crossin-lab/crossin/atomicfile"
	"github.com/crossin-lab/crossin/jobdata"
	"github.com/crossin-lab/crossin/runner/cache"
	"github.com/crossin-lab/crossin/runner/plan"
	"github.com/crossin-lab/crossin/schema"
	"github.com/crossin-lab/crossin/trainer"
	"github.com/crossin-lab/crossin/trainer/embedded"
)

// fakeTrainer implements the trainer contract without a model: its
// "adapter" is a hash of the job's data and hyperparameters, and its
// predictions are a deterministic function of the adapter. It lets the
// runner's orchestration be tested in milliseconds.
type fakeTrainer struct {
	mu   sync.Mutex
	jobs []string
}

func sum(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (f *fakeTrainer) Run(ctx context.Context, job *trainer.JobSpec, progress trainer.Progress) (*trainer.Manifest, error) {
	f.mu.Lock()
	f.jobs = append(f.jobs, job.Kind)
	f.mu.Unlock()
	out := job.OutputDir
	switch job.Kind {
	case trainer.KindTrain:
		data, err := os.ReadFile(job.Data[0])
		if err != nil {
			return nil, err
		}
		tp, _ := json.Marshal(job.Train)
		h := sum(data, tp, []byte(fmt.Sprint(job.Seed)))
		if err := atomicfile.WriteAll(filepath.Join(out, "adapter", "adapter_config.json"), []byte(`{"h":"`+h+`"}`), 0o666); err != nil {
			return nil, err
		}
		atomicfile.WriteAll(filepath.Join(out, "adapter", "adapter_model.safetensors"), []byte(h), 0o666)
		atomicfile.WriteAll(filepath.Join(out, "loss.json"), []byte(`{"steps":[{"step":1,"loss":1,"lr":0.001,"tokens":10}]}`), 0o666)
		progress.Update(1, 1, "")
		return trainer.WriteManifest(out, job.Kind, "fake", nil)
	case trainer.KindEval:
		ad := []byte("base")
		if job.Adapter != "" {
			var err error
			if ad, err = os.ReadFile(filepath.Join(job.Adapter, "adapter_config.json")); err != nil {
				return nil, err
			}
		}
		prompts, err := jobdata.ReadJSONL[jobdata.PromptLine](job.Data[0])
		if err != nil {
			return nil, err
		}
		var outs []jobdata.OutputLine
		for _, p := range prompts {
			o := jobdata.OutputLine{ID: p.ID, Language: p.Language}
			h := int(sum(ad, []byte(p.ID), []byte(p.Language))[0])
			if len(p.Options) > 0 {
				pick := h % len(p.Options)
				for i := range p.Options {
					o.LogLik = append(o.LogLik, -2)
					o.NTokens = append(o.NTokens, p.ScoreTokens[i])
				}
				o.LogLik[pick] = -1
			} else {
				// a deterministic function of the adapter: the last few prompt tokens
				o.OutputIDs = p.PromptIDs[max(0, len(p.PromptIDs)-1-h%4):]
			}
			outs = append(outs, o)
		}
		if err := jobdata.WriteJSONL(filepath.Join(out, trainer.OutputsFile), outs); err != nil {
			return nil, err
		}
		return trainer.WriteManifest(out, job.Kind, "fake", nil)
	}
	return nil, fmt.Errorf("fake: kind %s", job.Kind)
}

// miniSpec copies testdata/mini into a temp dir (so tests can add files)
// and loads it.
func miniSpec(t *testing.T, extra string) (string, *schema.Spec) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "spec")
	os.MkdirAll(dir, 0o777)
	src, err := os.ReadFile("testdata/mini/mini.cue")
	if err != nil {
		t.Fatal(err)
	}
	// Paths in the spec are relative to its file: make them absolute.
	repo, _ := filepath.Abs("..")
	text := strings.ReplaceAll(string(src), `"../../../`, `"`+repo+`/`)
	os.WriteFile(filepath.Join(dir, "mini.cue"), []byte(text), 0o666)
	if extra != "" {
		os.WriteFile(filepath.Join(dir, "extra.cue"), []byte("package mini\n"+extra), 0o666)
	}
	spec, err := schema.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, spec
}

func ranStages(s *Summary) []string {
	var out []string
	for _, n := range s.Order {
		if s.Results[n].Status == StatusRan {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func TestRunCachesAndRerunsOnlyTheChangedCell(t *testing.T) {
	c, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	ft := &fakeTrainer{}
	opts := RunOptions{Cache: c, OutDir: out, Jobs: 2, Backends: Backends{schema.BackendEmbedded: ft}}
	_, spec := miniSpec(t, "")
	res, err := Run(context.Background(), spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.Ran != len(res.Plan.Stages) {
		t.Fatalf("cold run ran %d of %d stages", res.Summary.Ran, len(res.Plan.Stages))
	}
	table1, err := os.ReadFile(filepath.Join(out, "mini", ResultsTable))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(table1, []byte("x2x-20")) || !bytes.Equal(table1, res.Reports[0].Table) {
		t.Fatalf("table:\n%s", table1)
	}
	var set struct {
		Rows []struct {
			Cell, Status string
			Score        map[string]any
		}
	}
	data, _ := os.ReadFile(filepath.Join(out, "mini", ResultsJSON))
	if err := json.Unmarshal(data, &set); err != nil || len(set.Rows) != 3 || set.Rows[0].Status != "ok" || set.Rows[0].Score["overall_acc"] == nil {
		t.Fatalf("results.json: %v\n%s", err, data)
	}

	// Warm: nothing runs, same table.
	os.RemoveAll(out)
	res2, err := Run(context.Background(), spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Summary.Ran != 0 || res2.Summary.Cached != len(res2.Plan.Stages) {
		t.Fatalf("warm run: ran %v", ranStages(res2.Summary))
	}
	if !bytes.Equal(res2.Reports[0].Table, table1) {
		t.Fatalf("warm table differs:\n%s\nvs\n%s", res2.Reports[0].Table, table1)
	}

	// One cell's learning rate changes: explain names it, and only that
	// cell's train, eval, score (and the report) run.
	_, spec3 := miniSpec(t, `experiments: mini: cells: "mini/x2x-20/s42": training: learning_rate: 2e-3`+"\n")
	p3, err := plan.Build(spec3, plan.WithCache(c))
	if err != nil {
		t.Fatal(err)
	}
	ex, err := plan.Explain(p3, plan.OpenRecords(c.Dir()), "mini/x2x-20/s42")
	if err != nil {
		t.Fatal(err)
	}
	var changed []string
	for _, e := range ex {
		for _, ch := range e.Changes {
			changed = append(changed, e.Stage+" "+ch.Field())
		}
	}
	if len(changed) == 0 || changed[0] != "train/mini/x2x-20/s42 train.learning_rate" {
		t.Fatalf("explain: %v", changed)
	}
	res3, err := Run(context.Background(), spec3, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"eval/mini/x2x-20/s42/mmlu", "report/mini", "score/mini/x2x-20/s42/mmlu", "train/mini/x2x-20/s42"}
	if got := ranStages(res3.Summary); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("after changing one learning rate, ran %v, want %v", got, want)
	}
	// After the run the records match: explain says unchanged.
	p4, _ := plan.Build(spec3, plan.WithCache(c))
	ex, _ = plan.Explain(p4, plan.OpenRecords(c.Dir()), "mini/x2x-20/s42")
	for _, e := range ex {
		if !e.Unchanged() {
			t.Errorf("after the run, %s is not unchanged: %v", e.Stage, e.Changes)
		}
	}
}

// failingTrainer fails every train job.
type failingTrainer struct{ fakeTrainer }

func (f *failingTrainer) Run(ctx context.Context, job *trainer.JobSpec, p trainer.Progress) (*trainer.Manifest, error) {
	if job.Kind == trainer.KindTrain {
		return nil, fmt.Errorf("injected training failure")
	}
	return f.fakeTrainer.Run(ctx, job, p)
}

func TestRunPartialReportOnFailure(t *testing.T) {
	c, _ := cache.Open(t.TempDir())
	out := t.TempDir()
	_, spec := miniSpec(t, "")
	res, err := Run(context.Background(), spec, RunOptions{Cache: c, OutDir: out, Jobs: 1, Backends: Backends{schema.BackendEmbedded: &failingTrainer{}}})
	if err == nil || !strings.Contains(err.Error(), "injected training failure") {
		t.Fatalf("err = %v", err)
	}
	if res == nil || len(res.Reports) != 1 || !res.Reports[0].Partial {
		t.Fatalf("no partial report: %+v", res)
	}
	data, _ := os.ReadFile(filepath.Join(out, "mini", ResultsJSON))
	if !strings.Contains(string(data), `"status": "failed"`) || !strings.Contains(string(data), `"status": "ok"`) {
		t.Fatalf("partial results.json should have the base cell ok and the x2x cell failed:\n%s", data)
	}
}

// TestRunIdenticalAcrossConcurrency runs the miniature experiment on the
// real embedded engine twice: one stage at a time on one CPU, and with
// heavy stages running side by side on split CPUs (GOMAXPROCS 4). Every
// stage's output must be the same bytes.
func TestRunIdenticalAcrossConcurrency(t *testing.T) {
	if testing.Short() {
		t.Skip("trains and evaluates a model")
	}
	_, spec := miniSpec(t, "")
	outputs := func(jobs, cpus int) (map[string]string, []byte) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(cpus))
		c, _ := cache.Open(t.TempDir())
		out := t.TempDir()
		res, err := Run(context.Background(), spec, RunOptions{Cache: c, OutDir: out, Jobs: jobs,
			Backends: Backends{schema.BackendEmbedded: embedded.New()}})
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]string{}
		for n, r := range res.Summary.Results {
			ids[n] = r.OutputID
		}
		tab, err := os.ReadFile(filepath.Join(out, "mini", ResultsTable))
		if err != nil {
			t.Fatal(err)
		}
		return ids, tab
	}
	serial, tab1 := outputs(1, 1)
	parallel, tab2 := outputs(4, 4)
	if len(serial) == 0 || len(serial) != len(parallel) {
		t.Fatalf("stages: %d serial, %d parallel", len(serial), len(parallel))
	}
	for n, id := range serial {
		if parallel[n] != id {
			t.Errorf("%s: output %s serially, %s with concurrent stages", n, id, parallel[n])
		}
	}
	if !bytes.Equal(tab1, tab2) {
		t.Errorf("tables differ:\n%s\n%s", tab1, tab2)
	}
}
