package smoke_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/hub"
	"github.com/crossin-lab/crossin/hub/hubserver"
	"github.com/crossin-lab/crossin/resultset"
	"github.com/crossin-lab/crossin/runner"
	"github.com/crossin-lab/crossin/runner/cache"
	"github.com/crossin-lab/crossin/runner/plan"
	"github.com/crossin-lab/crossin/schema"
	"github.com/crossin-lab/crossin/smoke"
	"github.com/crossin-lab/crossin/smoke/standin"
	"github.com/crossin-lab/crossin/trainer/embedded"
)

// smokeFamilies are the model families the reduced run covers: the
// paper's three, all of which the embedded trainer trains.
var smokeFamilies = map[string]bool{"llama": true, "gemma": true, "mistral": true}

// A reduced smoke run end to end: stand-in repositories served over the
// hub API, the real hub client downloading configs, tokenizers, Parquet,
// Alpaca JSON and SeaEval JSON, tiny models trained and evaluated on the
// embedded engine, every cell in the table, titled as a smoke run; a
// second run is served from the cache.
func TestReducedRun(t *testing.T) {
	if testing.Short() {
		t.Skip("trains tiny models (a few seconds)")
	}
	spec := loadReduced(t)
	repos, err := standin.Repos(spec, checkout)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := hubserver.New(repos)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	tmp := t.TempDir()
	t.Setenv("HF_ENDPOINT", hs.URL)
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HF_HUB_OFFLINE", "")
	t.Setenv("CROSSIN_CACHE", filepath.Join(tmp, "cache"))

	for _, e := range spec.Experiments {
		var cells []*schema.Cell
		for _, c := range e.Cells {
			if smokeFamilies[spec.Model(c.Model).Family] {
				cells = append(cells, c)
			}
		}
		e.Cells = cells
	}
	o := smoke.Default()
	ss, err := smoke.Spec(spec, o)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.Open(filepath.Join(tmp, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	hc := hub.NewClient()
	opts := runner.RunOptions{
		Cache:  c,
		OutDir: filepath.Join(tmp, "results"),
		Jobs:   2,
		PlanOptions: []plan.Option{plan.WithSmoke(o.Key()), plan.WithRevisionResolver(func(ctx context.Context, kind, repo, rev string) (string, error) {
			return hc.Resolve(ctx, hub.RepoType(kind), repo, rev)
		})},
		Backends: runner.Backends{schema.BackendEmbedded: embedded.New()},
	}
	res, err := runner.Run(context.Background(), ss, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Reports) != 1 {
		t.Fatalf("%d reports, want 1", len(res.Reports))
	}
	r := res.Reports[0]
	if r.Partial || !strings.HasPrefix(string(r.Table), smoke.TitlePrefix) {
		t.Errorf("partial %v, table:\n%s", r.Partial, r.Table)
	}
	b, err := os.ReadFile(filepath.Join(r.Dir, runner.ResultsJSON))
	if err != nil {
		t.Fatal(err)
	}
	var set resultset.Set
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatal(err)
	}
	cells := map[string]bool{}
	for _, row := range set.Rows {
		if row.Status != resultset.StatusOK || row.Score == nil {
			t.Errorf("cell %s %s: %s %s", row.Cell, row.Benchmark, row.Status, row.Error)
		}
		cells[row.Cell] = true
	}
	if want := len(ss.Experiments[0].Cells); len(cells) != want || want == 0 {
		t.Errorf("%d cells in the table, want %d", len(cells), want)
	}
	// The smoke model is the family's architecture with the repo's tokenizer.
	for _, st := range res.Plan.Stages {
		if st.Kind != plan.KindModel {
			continue
		}
		dir := res.Summary.Results[st.ID].OutputDir
		tok, _ := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
		for _, repo := range repos {
			if repo.ID == st.Model.Model.Hub.Repo && string(repo.Files["tokenizer.json"]) != string(tok) {
				t.Errorf("%s: the model's tokenizer is not its repository's", st.ID)
			}
		}
	}
	// The smoke run's explain records are kept apart from real runs'.
	if _, err := os.Stat(filepath.Join(tmp, "cache", "records")); !os.IsNotExist(err) {
		t.Errorf("a smoke run wrote the real runs' explain records (%v)", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(tmp, "cache", "records-smoke")); len(ents) == 0 {
		t.Error("a smoke run wrote no records of its own")
	}
	again, err := runner.Run(context.Background(), ss, opts)
	if err != nil {
		t.Fatal(err)
	}
	if again.Summary.Ran != 0 {
		t.Errorf("second run ran %d stages, want all cached", again.Summary.Ran)
	}
}
