package reports

import (
	"reflect"
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/resultset"
)

// TestWhereAndVariantRows: a volume layout keyed by model and variant set
// (not by mixture name, which carries the volume) gives one row per
// variant with a column per volume, and where keeps only the listed
// variants.
func TestWhereAndVariantRows(t *testing.T) {
	set := fixture()
	for i := range set.Rows {
		if set.Rows[i].Mixture != "base" {
			set.Rows[i].Variants = []string{set.Rows[i].Mixture}
		}
		set.Rows[i].Mixture += "-" + set.Rows[i].Volume // as paper.cue names them
	}
	l := Layout{Name: "volume", Kind: KindVolume, Rows: []string{DimModel, DimVariants}, Metric: MetricAC3,
		Where: map[string][]string{DimVariants: {"x2x", "en2x"}}, Benchmarks: []string{"cross_mmlu"}}
	tab, err := Build(set, l)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	for _, r := range tab.Rows {
		rows = append(rows, r.Labels)
	}
	if want := [][]string{{"tiny", "x2x"}, {"tiny", "en2x"}}; !reflect.DeepEqual(rows, want) {
		t.Fatalf("rows %v, want %v", rows, want)
	}
	if want := []string{"3000", "6000"}; !reflect.DeepEqual(tab.Groups[0].Columns, want) {
		t.Fatalf("columns %v, want %v (base's volume 0 is filtered out)", tab.Groups[0].Columns, want)
	}
	// x2x has both volumes, en2x only 3000: a grid, not a diagonal.
	got := [][]string{}
	for _, r := range tab.Rows {
		var st []string
		for _, c := range r.Cells {
			st = append(st, c.Status)
		}
		got = append(got, st)
	}
	ok, miss := resultset.StatusOK, resultset.StatusMissing
	if want := [][]string{{ok, ok}, {ok, miss}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("cell statuses %v, want %v", got, want)
	}
	if _, err := ParseLayouts([]byte(`{"layouts": {"t": {"kind": "main", "where": {"variants": ["x2x"]}}}}`)); err != nil {
		t.Fatalf("where in a declared layout: %v", err)
	}
}

// TestSortRows: sort orders rows by label, numbers ascending and "all"
// last, so an ablation's pairs sit together.
func TestSortRows(t *testing.T) {
	set := &resultset.Set{}
	for _, v := range []struct{ variants, vol string }{{"x2x", "3000"}, {"x2x", "all"}, {"x2x", "15000"}, {"x2x+trans", "3000"}, {"x2x+trans", "all"}, {"x2x+trans", "15000"}} {
		set.Rows = append(set.Rows, resultset.Row{Model: "m", Variants: strings.Split(v.variants, "+"), Volume: v.vol, Benchmark: "cross_mmlu",
			Status: resultset.StatusOK, Score: score("cross_mmlu", []float64{0.4, 0.3, 0.3}, 0.5, 0.4)})
	}
	tab, err := Build(set, Layout{Name: "trans", Kind: KindMain, Rows: []string{DimModel, DimVolume, DimVariants}, Sort: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range tab.Rows {
		got = append(got, strings.Join(r.Labels, " "))
	}
	want := []string{"m 3000 x2x", "m 3000 x2x+trans", "m 15000 x2x", "m 15000 x2x+trans", "m all x2x", "m all x2x+trans"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows %q, want %q", got, want)
	}
}
