package reports

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/crossin-lab/crossin/metrics"
	"github.com/crossin-lab/crossin/resultset"
)

// Table is a format-independent comparison table.
type Table struct {
	Name     string   `json:"name"`
	Title    string   `json:"title,omitempty"`
	RowDims  []string `json:"row_dims"` // names of the label columns
	Groups   []Group  `json:"groups"`
	Rows     []Row    `json:"rows"`
	Decimals int      `json:"decimals"`
	Percent  bool     `json:"percent"`
	// Provenance is the footer naming the build, spec and results the
	// table came from (see Footer); "" prints none.
	Provenance string `json:"provenance,omitempty"`
	// baselineCol is the label column that carries the "(baseline)" mark.
	baselineCol int
}

// labels returns r's labels with the baseline mark applied.
func (t *Table) labels(r Row) []string {
	lab := append([]string(nil), r.Labels...)
	if r.Baseline && t.baselineCol < len(lab) {
		if lab[t.baselineCol] == "" {
			lab[t.baselineCol] = "baseline"
		} else {
			lab[t.baselineCol] += " (baseline)"
		}
	}
	return lab
}

// Group is a group of columns under one header (usually a benchmark).
type Group struct {
	Name    string   `json:"name"`
	Columns []string `json:"columns"`
}

// Row is one table row.
type Row struct {
	Labels   []string `json:"labels"`
	Baseline bool     `json:"baseline,omitempty"`
	// Cells, flattened across groups in column order.
	Cells []Cell `json:"cells"`
}

// Cell is one number, or the reason it is absent.
type Cell struct {
	Status string  `json:"status"` // resultset.StatusOK, StatusMissing or StatusFailed
	Value  float64 `json:"value,omitempty"`
	// PM is the ± half-width shown with the value: the sample standard
	// deviation over seeds, or half a bootstrap interval. Zero means none.
	PM    float64  `json:"pm,omitempty"`
	N     int      `json:"n,omitempty"` // results aggregated (seeds)
	Delta *float64 `json:"delta,omitempty"`
	Best  bool     `json:"best,omitempty"`
}

// benchmarkTitles are the names the paper uses for column groups.
var benchmarkTitles = map[string]string{
	"cross_mmlu":   "Cross-MMLU",
	"cross_logiqa": "Cross-LogiQA",
	"cross_xquad":  "Cross-XQuAD",
}

// BenchmarkTitle returns the display name of a benchmark: the paper's name
// for a task ("Cross-MMLU"), and for a spec's benchmark named after a task
// with a suffix ("cross_mmlu-sample"), that name with the suffix
// ("Cross-MMLU (sample)").
func BenchmarkTitle(b string) string {
	if t, ok := benchmarkTitles[b]; ok {
		return t
	}
	for task, t := range benchmarkTitles {
		if rest, ok := strings.CutPrefix(b, task); ok && len(rest) > 1 && (rest[0] == '-' || rest[0] == '_') {
			return t + " (" + rest[1:] + ")"
		}
	}
	return b
}

func metricTitle(m string, k int) string {
	switch m {
	case MetricAcc:
		return "Acc"
	case MetricCons:
		return "Cons" + strconv.Itoa(k)
	case MetricAC3:
		return "AC3"
	}
	return m
}

// dimValue returns a result row's value for a row dimension.
func dimValue(r resultset.Row, dim string) string {
	switch dim {
	case DimModel:
		return r.Model
	case DimMixture:
		return r.Mixture
	case DimVariants:
		if len(r.Variants) == 0 {
			return "base"
		}
		return strings.Join(r.Variants, "+")
	case DimVolume:
		return r.Volume
	case DimSeed:
		return strconv.FormatInt(r.Seed, 10)
	}
	return r.Labels[dim]
}

// metricValue extracts one metric from a score; ok is false when the score
// lacks it (for example a consistency k larger than the language set).
func metricValue(s *metrics.Result, m string, k int) (float64, bool) {
	switch m {
	case MetricAcc:
		return s.OverallAcc, true
	case MetricCons:
		v, ok := s.Consistency[k]
		return v, ok
	case MetricAC3:
		v, ok := s.AC3[k]
		return v, ok
	}
	return 0, false
}

// agg accumulates the results that fall into one cell.
type agg struct {
	values []float64
	failed bool
	ci     *[2]float64 // single-result bootstrap interval, if any
}

func (a *agg) cell() Cell {
	if len(a.values) == 0 {
		if a.failed {
			return Cell{Status: resultset.StatusFailed}
		}
		return Cell{Status: resultset.StatusMissing}
	}
	c := Cell{Status: resultset.StatusOK, N: len(a.values)}
	var sum float64
	for _, v := range a.values {
		sum += v
	}
	c.Value = sum / float64(len(a.values))
	if len(a.values) > 1 {
		var ss float64
		for _, v := range a.values {
			ss += (v - c.Value) * (v - c.Value)
		}
		c.PM = math.Sqrt(ss / float64(len(a.values)-1))
	} else if a.ci != nil {
		c.PM = (a.ci[1] - a.ci[0]) / 2
	}
	return c
}

// Build applies layout to set.
func Build(set *resultset.Set, layout Layout) (*Table, error) {
	l, err := layout.normalize()
	if err != nil {
		return nil, err
	}
	set = l.filter(set)
	t := &Table{Name: l.Name, Title: l.Title, Decimals: l.Decimals, Percent: l.Percent}
	for _, d := range l.Rows {
		t.RowDims = append(t.RowDims, dimTitle(d))
	}

	benchmarks := l.Benchmarks
	if len(benchmarks) == 0 {
		benchmarks = benchmarksOf(set)
	}

	// Columns of each group.
	type colKey struct{ bench, col string }
	var groups []Group
	switch l.Kind {
	case KindMain:
		for _, b := range benchmarks {
			g := Group{Name: BenchmarkTitle(b)}
			for _, m := range l.Metrics {
				g.Columns = append(g.Columns, metricTitle(m, l.K))
			}
			groups = append(groups, g)
		}
	case KindVolume:
		vols := volumes(set)
		for _, b := range benchmarks {
			g := Group{Name: BenchmarkTitle(b) + " " + metricTitle(l.Metric, l.K)}
			g.Columns = append(g.Columns, vols...)
			groups = append(groups, g)
		}
	case KindLanguage:
		for _, b := range benchmarks {
			g := Group{Name: BenchmarkTitle(b)}
			g.Columns = append(g.Columns, languages(set, b)...)
			groups = append(groups, g)
		}
	}
	t.Groups = groups

	// Row keys in first-seen order, and cell aggregates.
	var keys []string
	labels := map[string][]string{}
	cells := map[string]map[colKey]*agg{}
	for _, r := range set.Rows {
		var lab []string
		for _, d := range l.Rows {
			lab = append(lab, dimValue(r, d))
		}
		key := strings.Join(lab, "\x00")
		if _, ok := labels[key]; !ok {
			keys = append(keys, key)
			labels[key] = lab
			cells[key] = map[colKey]*agg{}
		}
		add := func(col string, v float64, ok bool, ci *[2]float64) {
			ck := colKey{r.Benchmark, col}
			a := cells[key][ck]
			if a == nil {
				a = &agg{}
				cells[key][ck] = a
			}
			switch {
			case r.Status == resultset.StatusOK && r.Score != nil && ok:
				a.values = append(a.values, v)
				a.ci = ci
			case r.Status == resultset.StatusFailed:
				a.failed = true
			}
		}
		switch l.Kind {
		case KindMain:
			for _, m := range l.Metrics {
				var v float64
				ok := false
				if r.Score != nil {
					v, ok = metricValue(r.Score, m, l.K)
				}
				add(metricTitle(m, l.K), v, ok, nil)
			}
		case KindVolume:
			var v float64
			ok := false
			if r.Score != nil {
				v, ok = metricValue(r.Score, l.Metric, l.K)
			}
			add(volumeLabel(r.Volume), v, ok, nil)
		case KindLanguage:
			for _, lang := range languages(set, r.Benchmark) {
				var v float64
				ok := false
				var ci *[2]float64
				if r.Score != nil {
					v, ok = r.Score.LanguageAcc[lang]
					if iv, has := r.Score.AccCI[lang]; has {
						iv := iv
						ci = &iv
					}
				}
				add(lang, v, ok, ci)
			}
		}
	}

	if l.Sort {
		sort.SliceStable(keys, func(i, j int) bool { return labelsLess(labels[keys[i]], labels[keys[j]]) })
	}
	for _, key := range keys {
		row := Row{Labels: labels[key]}
		for gi, g := range groups {
			for _, col := range g.Columns {
				a := cells[key][colKey{benchmarks[gi], col}]
				if a == nil {
					a = &agg{}
				}
				row.Cells = append(row.Cells, a.cell())
			}
		}
		t.Rows = append(t.Rows, row)
	}
	markBaselines(t, l)
	markBest(t)
	return t, nil
}

func dimTitle(d string) string {
	switch d {
	case DimModel:
		return "Model"
	case DimMixture:
		return "Variant"
	case DimVariants:
		return "Variants"
	case DimVolume:
		return "Volume"
	case DimSeed:
		return "Seed"
	}
	return d
}

// volumeLabel is the column name of a CrossIn volume; base-only mixtures
// have no volume.
func volumeLabel(v string) string {
	if v == "" {
		return "0"
	}
	return v
}

// volumes lists the CrossIn volumes present, numeric ones ascending, then
// "all".
func volumes(set *resultset.Set) []string {
	seen := map[string]bool{}
	var nums []int
	var other []string
	for _, r := range set.Rows {
		v := volumeLabel(r.Volume)
		if seen[v] {
			continue
		}
		seen[v] = true
		if n, err := strconv.Atoi(v); err == nil {
			nums = append(nums, n)
		} else {
			other = append(other, v)
		}
	}
	sort.Ints(nums)
	sort.Strings(other)
	var out []string
	for _, n := range nums {
		out = append(out, strconv.Itoa(n))
	}
	return append(out, other...)
}

// languages lists the languages scored on benchmark b, in evaluation order.
func languages(set *resultset.Set, b string) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range set.Rows {
		if r.Benchmark != b || r.Score == nil {
			continue
		}
		for _, l := range r.Score.Languages {
			if !seen[l] {
				seen[l] = true
				out = append(out, l)
			}
		}
	}
	return out
}

// markBaselines flags baseline rows and fills deltas against the baseline
// row that shares every other row dimension.
func markBaselines(t *Table, l Layout) {
	if len(l.Baseline) == 0 {
		return
	}
	dimIdx := map[string]int{}
	for i, d := range l.Rows {
		dimIdx[d] = i
	}
	peers := l.Peers
	if len(peers) == 0 {
		peers = []string{DimModel}
	}
	// peerKey is a row's labels on the peer dimensions.
	peerKey := func(r Row) string {
		var k []string
		for _, d := range peers {
			if i, ok := dimIdx[d]; ok {
				k = append(k, r.Labels[i])
			}
		}
		return strings.Join(k, "\x00")
	}
	t.baselineCol = len(l.Rows)
	for _, d := range sortedKeys(l.Baseline) {
		if i, ok := dimIdx[d]; ok && i < t.baselineCol {
			t.baselineCol = i
		}
	}
	base := map[string]int{}
	for i := range t.Rows {
		r := &t.Rows[i]
		match := true
		for d, v := range l.Baseline {
			i, ok := dimIdx[d]
			if !ok || r.Labels[i] != v {
				match = false
				break
			}
		}
		if match {
			r.Baseline = true
			if _, dup := base[peerKey(*r)]; !dup {
				base[peerKey(*r)] = i
			}
		}
	}
	if !l.Delta {
		return
	}
	for i := range t.Rows {
		r := &t.Rows[i]
		bi, ok := base[peerKey(*r)]
		if !ok || r.Baseline {
			continue
		}
		for c := range r.Cells {
			bc := t.Rows[bi].Cells[c]
			if r.Cells[c].Status == resultset.StatusOK && bc.Status == resultset.StatusOK {
				d := r.Cells[c].Value - bc.Value
				r.Cells[c].Delta = &d
			}
		}
	}
}

// markBest flags, per column, the cells holding the highest value (all of
// them on a tie, compared at the displayed precision).
func markBest(t *Table) {
	if len(t.Rows) < 2 {
		return
	}
	for c := range t.Rows[0].Cells {
		best := math.Inf(-1)
		for _, r := range t.Rows {
			if r.Cells[c].Status == resultset.StatusOK {
				best = math.Max(best, t.round(r.Cells[c].Value))
			}
		}
		for i := range t.Rows {
			cell := &t.Rows[i].Cells[c]
			if cell.Status == resultset.StatusOK && t.round(cell.Value) == best {
				cell.Best = true
			}
		}
	}
}

// round rounds a value as it will be displayed.
func (t *Table) round(v float64) float64 {
	if t.Percent {
		v *= 100
	}
	p := math.Pow(10, float64(t.Decimals))
	return math.Round(v*p) / p
}

// Format renders v as displayed (percent and decimals applied).
func (t *Table) Format(v float64) string {
	if t.Percent {
		v *= 100
	}
	return strconv.FormatFloat(v, 'f', t.Decimals, 64)
}

// formatSigned renders a delta with its sign.
func (t *Table) formatSigned(v float64) string {
	s := t.Format(v)
	if !strings.HasPrefix(s, "-") {
		s = "+" + s
	}
	return s
}

// columnNames lists the flattened columns as "Group Column".
func (t *Table) columnNames() []string {
	var out []string
	for _, g := range t.Groups {
		for _, c := range g.Columns {
			out = append(out, g.Name+" "+c)
		}
	}
	return out
}

// text renders a cell as plain text; best is applied by the caller.
func (t *Table) text(c Cell) string {
	switch c.Status {
	case resultset.StatusMissing:
		return "–"
	case resultset.StatusFailed:
		return "failed"
	}
	s := t.Format(c.Value)
	if c.PM > 0 {
		s += " ± " + t.Format(c.PM)
	}
	if c.Delta != nil {
		s += " (" + t.formatSigned(*c.Delta) + ")"
	}
	return s
}

// ErrNoResults is returned when a set holds no rows to report.
var ErrNoResults = fmt.Errorf("no results to report: run the experiment first (crossin run)")

// labelsLess orders row labels column by column: an empty label first,
// then numbers ascending, then "all", then other text.
func labelsLess(a, b []string) bool {
	for i := range min(len(a), len(b)) {
		if a[i] == b[i] {
			continue
		}
		ra, rb := labelRank(a[i]), labelRank(b[i])
		if ra.class != rb.class {
			return ra.class < rb.class
		}
		if ra.class == 1 {
			return ra.n < rb.n
		}
		return a[i] < b[i]
	}
	return len(a) < len(b)
}

type rank struct {
	class int // 0 empty, 1 number, 2 "all", 3 text
	n     int
}

func labelRank(s string) rank {
	if s == "" {
		return rank{}
	}
	if n, err := strconv.Atoi(s); err == nil {
		return rank{1, n}
	}
	if s == "all" {
		return rank{class: 2}
	}
	return rank{class: 3}
}
