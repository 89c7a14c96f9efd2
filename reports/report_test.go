package reports

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mattn/go-runewidth"
	"gonum.org/v1/plot"

	"github.com/crossin-lab/crossin/metrics"
	"github.com/crossin-lab/crossin/resultset"
)

var update = flag.Bool("update", false, "rewrite golden files")

var langs = []string{"English", "Chinese", "Vietnamese"}

// score makes a metrics.Result with the given accuracy per language and
// consistency; AC3 is the harmonic mean, as SeaEval defines it.
func score(bench string, acc []float64, cons2, cons3 float64) *metrics.Result {
	r := &metrics.Result{Benchmark: bench, Languages: langs, N: 30,
		LanguageAcc: map[string]float64{}, Consistency: map[int]float64{2: cons2, 3: cons3},
		AC3: map[int]float64{}, Detailed: map[int]map[string]float64{2: {}},
		AccCI: map[string][2]float64{}}
	var sum float64
	for i, l := range langs {
		r.LanguageAcc[l] = acc[i]
		r.AccCI[l] = [2]float64{acc[i] - 0.05, acc[i] + 0.05}
		sum += acc[i]
	}
	r.OverallAcc = sum / float64(len(langs))
	for k, c := range r.Consistency {
		r.AC3[k] = 2 * r.OverallAcc * c / (r.OverallAcc + c)
	}
	r.Detailed[2]["English-Chinese"] = cons2 + 0.02
	r.Detailed[2]["English-Vietnamese"] = cons2
	r.Detailed[2]["Chinese-Vietnamese"] = cons2 - 0.02
	return r
}

func fixture() *resultset.Set {
	set := &resultset.Set{Experiment: "fixture"}
	add := func(mix, vol string, seed int64, bench string, s *metrics.Result, status string) {
		set.Rows = append(set.Rows, resultset.Row{Cell: "tiny/" + mix + "-" + vol, Model: "tiny", Mixture: mix,
			Volume: vol, Seed: seed, Benchmark: bench, Status: status, Score: s})
	}
	ok := resultset.StatusOK
	add("base", "", 42, "cross_mmlu", score("cross_mmlu", []float64{0.40, 0.30, 0.33}, 0.50, 0.35), ok)
	add("base", "", 42, "cross_logiqa", score("cross_logiqa", []float64{0.30, 0.28, 0.27}, 0.45, 0.30), ok)
	add("x2x", "3000", 42, "cross_mmlu", score("cross_mmlu", []float64{0.42, 0.36, 0.35}, 0.60, 0.45), ok)
	add("x2x", "3000", 7, "cross_mmlu", score("cross_mmlu", []float64{0.44, 0.34, 0.37}, 0.62, 0.47), ok)
	add("x2x", "3000", 42, "cross_logiqa", score("cross_logiqa", []float64{0.33, 0.30, 0.29}, 0.52, 0.38), ok)
	add("x2x", "6000", 42, "cross_mmlu", score("cross_mmlu", []float64{0.45, 0.40, 0.38}, 0.66, 0.50), ok)
	add("x2x", "6000", 42, "cross_logiqa", nil, resultset.StatusFailed)
	add("en2x", "3000", 42, "cross_mmlu", score("cross_mmlu", []float64{0.41, 0.33, 0.30}, 0.55, 0.40), ok)
	add("en2x", "3000", 42, "cross_logiqa", nil, resultset.StatusMissing)
	return set
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./reports -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file:\n--- got ---\n%s\n--- want ---\n%s", name, got, want)
	}
}

func TestRenderGolden(t *testing.T) {
	set := fixture()
	layouts := DefaultLayouts()
	withDelta, _ := FindLayout(layouts, "main")
	withDelta.Name, withDelta.Delta = "main-delta", true
	layouts = append(layouts, withDelta)
	for _, l := range layouts {
		for _, f := range []string{FormatTerm, FormatMarkdown, FormatLaTeX, FormatCSV, FormatJSON} {
			t.Run(l.Name+"."+f, func(t *testing.T) {
				var buf bytes.Buffer
				if err := Write(&buf, set, l, f); err != nil {
					t.Fatal(err)
				}
				golden(t, l.Name+"."+f, buf.Bytes())
			})
		}
	}
}

func TestMissingAndFailedAreNotZero(t *testing.T) {
	tab, err := Build(fixture(), DefaultLayouts()[0])
	if err != nil {
		t.Fatal(err)
	}
	var sawMissing, sawFailed bool
	for _, r := range tab.Rows {
		for _, c := range r.Cells {
			switch c.Status {
			case resultset.StatusMissing:
				sawMissing = true
				if c.Value != 0 || c.Best {
					t.Errorf("missing cell carries a value: %+v", c)
				}
			case resultset.StatusFailed:
				sawFailed = true
			}
		}
	}
	if !sawMissing || !sawFailed {
		t.Fatalf("fixture should produce missing and failed cells (missing %v, failed %v)", sawMissing, sawFailed)
	}
	var buf bytes.Buffer
	if err := Render(&buf, tab, FormatMarkdown); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "failed") || !strings.Contains(buf.String(), "–") {
		t.Errorf("markdown lacks failed/missing marks:\n%s", buf.String())
	}
}

func TestSeedsAggregateWithSpread(t *testing.T) {
	tab, err := Build(fixture(), DefaultLayouts()[0])
	if err != nil {
		t.Fatal(err)
	}
	// Row order is first-seen: base, x2x 3000 (two seeds aggregate into
	// one row, as the seed is not a row dimension), x2x 6000, en2x 3000.
	r := tab.Rows[1]
	if r.Labels[1] != "x2x" || r.Labels[2] != "3000" {
		t.Fatalf("row 1 = %v, want x2x 3000", r.Labels)
	}
	acc := r.Cells[0]
	if acc.N != 2 || acc.PM == 0 {
		t.Errorf("x2x Cross-MMLU Acc: N=%d PM=%v, want 2 results with a spread", acc.N, acc.PM)
	}
	if want := (0.42 + 0.36 + 0.35 + 0.44 + 0.34 + 0.37) / 6; acc.Value-want > 1e-12 || want-acc.Value > 1e-12 {
		t.Errorf("mean = %v, want %v", acc.Value, want)
	}
}

func TestBaselineDelta(t *testing.T) {
	l := DefaultLayouts()[0]
	l.Delta = true
	tab, err := Build(fixture(), l)
	if err != nil {
		t.Fatal(err)
	}
	if !tab.Rows[0].Baseline || tab.Rows[0].Cells[0].Delta != nil {
		t.Fatalf("base row should be the baseline without delta: %+v", tab.Rows[0])
	}
	d := tab.Rows[3].Cells[0].Delta // en2x Cross-MMLU Acc
	if d == nil {
		t.Fatal("en2x row has no delta")
	}
	want := (0.41+0.33+0.30)/3 - (0.40+0.30+0.33)/3
	if diff := *d - want; diff > 1e-12 || diff < -1e-12 {
		t.Errorf("delta = %v, want %v", *d, want)
	}
}

func TestBadLayout(t *testing.T) {
	for _, l := range []Layout{
		{Name: "x", Kind: "pie"},
		{Name: "x", Metrics: []string{"f1"}},
		{Name: "x", K: 1},
	} {
		if _, err := Build(fixture(), l); err == nil {
			t.Errorf("layout %+v: no error", l)
		}
	}
	if err := Write(&bytes.Buffer{}, &resultset.Set{}, DefaultLayouts()[0], FormatTerm); err != ErrNoResults {
		t.Errorf("empty set: err = %v, want ErrNoResults", err)
	}
}

func TestPlots(t *testing.T) {
	set := fixture()
	dir := t.TempDir()
	vc, err := VolumeCurve(set, "cross_mmlu", MetricAC3, 3)
	if err != nil {
		t.Fatal(err)
	}
	lc, err := LanguageChart(set, "cross_mmlu")
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]*plot.Plot{"volume": vc, "language": lc} {
		for _, f := range []string{"svg", "png"} {
			var a, b bytes.Buffer
			if err := WritePlot(&a, p, f); err != nil {
				t.Fatal(err)
			}
			if err := WritePlot(&b, p, f); err != nil {
				t.Fatal(err)
			}
			if a.Len() < 2000 {
				t.Errorf("%s.%s: only %d bytes", name, f, a.Len())
			}
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Errorf("%s.%s: two renders differ", name, f)
			}
			if err := os.WriteFile(filepath.Join(dir, name+"."+f), a.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			if os.Getenv("CROSSIN_KEEP_PLOTS") != "" {
				_ = os.WriteFile(filepath.Join(os.Getenv("CROSSIN_KEEP_PLOTS"), name+"."+f), a.Bytes(), 0o644)
			}
		}
	}
	var html bytes.Buffer
	if err := Write(&html, set, DefaultLayouts()[0], FormatHTML); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<table>", "data:image/svg", "Cross-MMLU", "best"} {
		if !strings.Contains(html.String(), want) {
			t.Errorf("html report lacks %q", want)
		}
	}
}

// A grid none of whose cells has run renders every layout (the per-language
// table then has groups without language columns) in every format,
// without a crash.
func TestRenderNothingRun(t *testing.T) {
	set := &resultset.Set{Experiment: "x"}
	for _, b := range []string{"cross_mmlu", "cross_xquad"} {
		set.Rows = append(set.Rows, resultset.Row{Cell: "m/base/s1", Model: "m", Mixture: "base", Seed: 1, Benchmark: b, Status: resultset.StatusMissing})
	}
	for _, l := range DefaultLayouts() {
		for _, f := range []string{FormatTerm, FormatMarkdown} {
			var buf bytes.Buffer
			if err := Write(&buf, set, l, f); err != nil && !errors.Is(err, ErrNoResults) {
				t.Errorf("%s %s: %v", l.Name, f, err)
			}
		}
	}
}

// TestTermTableFitsIn100Columns renders a table shaped like the
// quickstart's (three suffixed benchmarks, a baseline and deltas) and
// requires every line to fit a 100-column terminal.
func TestTermTableFitsIn100Columns(t *testing.T) {
	set := &resultset.Set{Experiment: "quickstart"}
	for i, mix := range []string{"base-200", "x2x-200", "en2x-200"} {
		for j, b := range []string{"cross_mmlu-sample", "cross_logiqa-sample", "cross_xquad-sample"} {
			v := 0.2 + 0.01*float64(i+j)
			set.Rows = append(set.Rows, resultset.Row{Cell: "tiny/" + mix + "/s42", Model: "tiny", Mixture: mix,
				Volume: map[bool]string{true: "", false: "200"}[i == 0], Seed: 42, Benchmark: b, Status: resultset.StatusOK,
				Score: &metrics.Result{OverallAcc: v, Consistency: map[int]float64{3: v + 0.1}, AC3: map[int]float64{3: v + 0.05}}})
		}
	}
	layout := Layout{Name: "main", Title: "Accuracy, consistency and AC3 by model and CrossIn variant",
		Rows: []string{DimModel, DimMixture, DimVolume}, K: 3, Baseline: map[string]string{DimMixture: "base-200"},
		Delta: true, Decimals: 1, Percent: true}
	var buf bytes.Buffer
	if err := Write(&buf, set, layout, FormatTerm); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(buf.String(), "\n") {
		if w := runewidth.StringWidth(line); w > 100 {
			t.Errorf("%d columns: %s", w, line)
		}
	}
	if !strings.Contains(buf.String(), "Δ") || !strings.Contains(buf.String(), "+1.0") {
		t.Errorf("no delta line:\n%s", buf.String())
	}
}
