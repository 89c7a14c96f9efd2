// Package reports turns a grid's scored results (package resultset) into the
// comparison tables researchers put in papers: the CrossIn main table
// (model × variant rows, benchmark × {Acc, Cons, AC3} column groups), the
// data-volume study, per-language breakdowns and consistency matrices, in
// terminal, Markdown, LaTeX, CSV, JSON and HTML form, plus SVG/PNG plots.
//
// A report is built in two steps: Build applies a Layout to a
// resultset.Set and yields a format-independent Table; Render writes that
// Table in one format. Reports only read results; they never start work.
package reports

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/crossin-lab/crossin/resultset"
)

// Layout kinds.
const (
	// KindMain: one row per row key, a column group per benchmark, one
	// column per metric (the CrossIn paper's main table).
	KindMain = "main"
	// KindVolume: one row per row key (volume excluded), a column group per
	// benchmark, one column per CrossIn volume; cells hold one metric (the
	// paper's data-volume study).
	KindVolume = "volume"
	// KindLanguage: one row per row key, a column group per benchmark, one
	// column per language; cells hold per-language accuracy.
	KindLanguage = "language"
)

// Metric names usable in Layout.Metrics and Layout.Metric.
const (
	MetricAcc  = "acc"
	MetricCons = "cons"
	MetricAC3  = "ac3"
)

// Row dimensions usable in Layout.Rows. Any other name is looked up in a
// result row's Labels.
const (
	DimModel    = "model"
	DimMixture  = "mixture"
	DimVariants = "variants"
	DimVolume   = "volume"
	DimSeed     = "seed"
)

// Layout declares one table. Experiments declare layouts in CUE next to
// the grid (see experiments/layouts.cue); DefaultLayouts reproduces the
// paper's two tables.
type Layout struct {
	Name  string `json:"name"`
	Title string `json:"title,omitempty"`
	Kind  string `json:"kind"`
	// Rows are the dimensions that make a row's key, in column order.
	// Results that differ only in dimensions not listed (typically the
	// seed) are aggregated: mean ± sample standard deviation.
	Rows []string `json:"rows"`
	// Where keeps only the results whose value on each listed row
	// dimension is one of the listed values (for example
	// {variants: ["x2x", "x2x+trans"]} for an ablation); the dimension
	// need not be a row dimension.
	Where map[string][]string `json:"where,omitempty"`
	// Sort orders the rows by their labels, column by column (numbers
	// ascending, "all" after them), instead of the results' order, so
	// that, say, x2x and x2x+trans at one volume come out side by side.
	Sort bool `json:"sort,omitempty"`
	// Benchmarks, in column-group order; empty means every benchmark in the
	// results, in the order first seen.
	Benchmarks []string `json:"benchmarks,omitempty"`
	// Metrics are the columns of each group for KindMain.
	Metrics []string `json:"metrics,omitempty"`
	// Metric is the single metric shown by KindVolume tables.
	Metric string `json:"metric,omitempty"`
	// K is the consistency subset size for cons and ac3 (SeaEval's k).
	K int `json:"k"`
	// Baseline selects the baseline row(s): a row matches when every listed
	// dimension has the listed value. Deltas compare each row with the
	// baseline row that shares its other row dimensions (e.g. same model).
	Baseline map[string]string `json:"baseline,omitempty"`
	// Peers are the row dimensions a row shares with its baseline row
	// (default: model), so each model's variants compare with that
	// model's own baseline.
	Peers []string `json:"peers,omitempty"`
	// Delta shows each cell's difference from its baseline row.
	Delta bool `json:"delta,omitempty"`
	// Decimals after the point; values are percentages when Percent is set.
	Decimals int  `json:"decimals"`
	Percent  bool `json:"percent"`
}

// DefaultLayouts are the built-in layouts: the CrossIn paper's main table
// and its data-volume study, plus the per-language breakdown.
func DefaultLayouts() []Layout {
	return []Layout{
		{
			Name: "main", Title: "Accuracy, consistency and AC3 by model and CrossIn variant",
			Kind: KindMain, Rows: []string{DimModel, DimMixture, DimVolume},
			Metrics: []string{MetricAcc, MetricCons, MetricAC3}, K: 3,
			Baseline: map[string]string{DimMixture: "base"}, Decimals: 1, Percent: true,
		},
		{
			Name: "volume", Title: "AC3 by CrossIn data volume",
			Kind: KindVolume, Rows: []string{DimModel, DimMixture},
			Metric: MetricAC3, K: 3, Decimals: 1, Percent: true,
		},
		{
			Name: "languages", Title: "Accuracy per language",
			Kind: KindLanguage, Rows: []string{DimModel, DimMixture, DimVolume},
			K: 3, Decimals: 1, Percent: true,
		},
	}
}

// FindLayout returns the layout named name from layouts.
func FindLayout(layouts []Layout, name string) (Layout, error) {
	var names []string
	for _, l := range layouts {
		if l.Name == name {
			return l, nil
		}
		names = append(names, l.Name)
	}
	sort.Strings(names)
	return Layout{}, fmt.Errorf("no layout named %q (have: %s)", name, strings.Join(names, ", "))
}

// normalize fills defaults and checks a layout.
func (l Layout) normalize() (Layout, error) {
	if l.Kind == "" {
		l.Kind = KindMain
	}
	if len(l.Rows) == 0 {
		l.Rows = []string{DimModel, DimMixture}
	}
	if l.K == 0 {
		l.K = 3
	}
	switch l.Kind {
	case KindMain:
		if len(l.Metrics) == 0 {
			l.Metrics = []string{MetricAcc, MetricCons, MetricAC3}
		}
		for _, m := range l.Metrics {
			if err := checkMetric(m); err != nil {
				return l, fmt.Errorf("layout %q: %w", l.Name, err)
			}
		}
	case KindVolume:
		if l.Metric == "" {
			l.Metric = MetricAC3
		}
		if err := checkMetric(l.Metric); err != nil {
			return l, fmt.Errorf("layout %q: %w", l.Name, err)
		}
		rows := l.Rows[:0:0]
		for _, d := range l.Rows {
			if d != DimVolume {
				rows = append(rows, d)
			}
		}
		l.Rows = rows
	case KindLanguage:
	default:
		return l, fmt.Errorf("layout %q: kind %q, want %q, %q or %q", l.Name, l.Kind, KindMain, KindVolume, KindLanguage)
	}
	if l.K < 2 {
		return l, fmt.Errorf("layout %q: k = %d, want k >= 2", l.Name, l.K)
	}
	if l.Decimals < 0 || l.Decimals > 6 {
		return l, fmt.Errorf("layout %q: decimals = %d, want 0..6", l.Name, l.Decimals)
	}
	return l, nil
}

// keeps reports whether a result passes the layout's Where filter.
func (l Layout) keeps(r resultset.Row) bool {
	for d, vals := range l.Where {
		if !slices.Contains(vals, dimValue(r, d)) {
			return false
		}
	}
	return true
}

// filter returns set restricted to the results the layout keeps.
func (l Layout) filter(set *resultset.Set) *resultset.Set {
	if len(l.Where) == 0 {
		return set
	}
	out := &resultset.Set{Experiment: set.Experiment}
	for _, r := range set.Rows {
		if l.keeps(r) {
			out.Rows = append(out.Rows, r)
		}
	}
	return out
}

func checkMetric(m string) error {
	switch m {
	case MetricAcc, MetricCons, MetricAC3:
		return nil
	}
	return fmt.Errorf("unknown metric %q, want %q, %q or %q", m, MetricAcc, MetricCons, MetricAC3)
}
