package reports

import (
	"reflect"
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
