package reports

import (
	"fmt"
	"io"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/crossin-lab/crossin/resultset"
)

// Plot sizes, in points.
const (
	plotWidth  = 6 * vg.Inch
	plotHeight = 4 * vg.Inch
)

// VolumeCurve plots metric (usually AC3_k) against the CrossIn data volume,
// one line per model and mixture, for one benchmark or, when benchmark is
// empty, the mean over benchmarks. Volumes are placed at equal spacing in
// ascending order with "all" last, as in the paper's figure. Base-only
// mixtures (no volume) are drawn as a dashed horizontal reference line.
func VolumeCurve(set *resultset.Set, benchmark, metric string, k int) (*plot.Plot, error) {
	if err := checkMetric(metric); err != nil {
		return nil, err
	}
	vols := volumes(set)
	var xs []string
	for _, v := range vols {
		if v != "0" {
			xs = append(xs, v)
		}
	}
	if len(xs) == 0 {
		return nil, fmt.Errorf("volume curve: the results have no CrossIn volumes")
	}
	pos := map[string]float64{}
	for i, v := range xs {
		pos[v] = float64(i)
	}
	type series struct {
		name   string
		sums   map[string]float64
		counts map[string]int
	}
	var order []string
	lines := map[string]*series{}
	for _, r := range set.Rows {
		if r.Status != resultset.StatusOK || r.Score == nil || (benchmark != "" && r.Benchmark != benchmark) {
			continue
		}
		v, ok := metricValue(r.Score, metric, k)
		if !ok {
			continue
		}
		name := r.Model + " " + r.Mixture
		s := lines[name]
		if s == nil {
			s = &series{name: name, sums: map[string]float64{}, counts: map[string]int{}}
			lines[name] = s
			order = append(order, name)
		}
		vl := volumeLabel(r.Volume)
		s.sums[vl] += v
		s.counts[vl]++
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("volume curve: no scored results")
	}
	p := plot.New()
	title := BenchmarkTitle(benchmark)
	if benchmark == "" {
		title = "mean over benchmarks"
	}
	p.Title.Text = fmt.Sprintf("%s vs CrossIn volume (%s)", metricTitle(metric, k), title)
	p.X.Label.Text = "CrossIn samples"
	p.Y.Label.Text = metricTitle(metric, k) + " (%)"
	p.Legend.Top = true
	p.Legend.Left = true
	var ticks []plot.Tick
	for _, v := range xs {
		ticks = append(ticks, plot.Tick{Value: pos[v], Label: v})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	for i, name := range order {
		s := lines[name]
		var pts plotter.XYs
		for _, v := range xs {
			if n := s.counts[v]; n > 0 {
				pts = append(pts, plotter.XY{X: pos[v], Y: 100 * s.sums[v] / float64(n)})
			}
		}
		if n := s.counts["0"]; n > 0 && len(pts) == 0 {
			// A base-only mixture: a reference line across the volumes.
			y := 100 * s.sums["0"] / float64(n)
			pts = plotter.XYs{{X: 0, Y: y}, {X: float64(len(xs) - 1), Y: y}}
			l, err := plotter.NewLine(pts)
			if err != nil {
				return nil, err
			}
			l.Color = plotutil.Color(i)
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			p.Add(l)
			p.Legend.Add(name, l)
			continue
		}
		if len(pts) == 0 {
			continue
		}
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, err
		}
		l.Color = plotutil.Color(i)
		sc.Color = plotutil.Color(i)
		sc.Shape = plotutil.Shape(i)
		p.Add(l, sc)
		p.Legend.Add(name, l, sc)
	}
	p.Add(plotter.NewGrid())
	// Room for the legend above the lines and beside the end points.
	p.X.Min, p.X.Max = -0.3, float64(len(xs)-1)+0.3
	p.Y.Max += (p.Y.Max - p.Y.Min) * 0.35
	return p, nil
}

// LanguageChart is a grouped bar chart of accuracy per language on one
// benchmark, one bar colour per model and mixture (seeds averaged).
func LanguageChart(set *resultset.Set, benchmark string) (*plot.Plot, error) {
	langs := languages(set, benchmark)
	if len(langs) == 0 {
		return nil, fmt.Errorf("language chart: no scored results for benchmark %q", benchmark)
	}
	type series struct {
		sums   []float64
		counts []int
	}
	var order []string
	bars := map[string]*series{}
	for _, r := range set.Rows {
		if r.Status != resultset.StatusOK || r.Score == nil || r.Benchmark != benchmark {
			continue
		}
		name := r.Model + " " + r.Mixture
		if r.Volume != "" {
			name += " " + r.Volume
		}
		s := bars[name]
		if s == nil {
			s = &series{sums: make([]float64, len(langs)), counts: make([]int, len(langs))}
			bars[name] = s
			order = append(order, name)
		}
		for i, l := range langs {
			if v, ok := r.Score.LanguageAcc[l]; ok {
				s.sums[i] += v
				s.counts[i]++
			}
		}
	}
	p := plot.New()
	p.Title.Text = "Accuracy per language (" + BenchmarkTitle(benchmark) + ")"
	p.Y.Label.Text = "Accuracy (%)"
	p.Legend.Top = true
	w := vg.Points(float64(300) / float64(len(langs)*len(order)+len(langs)))
	if w > vg.Points(20) {
		w = vg.Points(20)
	}
	for i, name := range order {
		s := bars[name]
		vals := make(plotter.Values, len(langs))
		for j := range langs {
			if s.counts[j] > 0 {
				vals[j] = 100 * s.sums[j] / float64(s.counts[j])
			}
		}
		b, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return nil, err
		}
		b.LineStyle.Width = 0
		b.Color = plotutil.Color(i)
		b.Offset = w * vg.Length(float64(i)-float64(len(order)-1)/2)
		p.Add(b)
		p.Legend.Add(name, b)
	}
	p.NominalX(langs...)
	p.Y.Min = 0
	p.Y.Max *= 1.35 // room for the legend
	return p, nil
}

// WritePlot writes p as "svg" or "png".
func WritePlot(w io.Writer, p *plot.Plot, format string) error {
	switch format {
	case "svg", "png":
	default:
		return fmt.Errorf("plot format %q, want svg or png", format)
	}
	wt, err := p.WriterTo(plotWidth, plotHeight, format)
	if err != nil {
		return err
	}
	_, err = wt.WriteTo(w)
	return err
}

// benchmarksOf lists the benchmarks in set in first-seen order.
func benchmarksOf(set *resultset.Set) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range set.Rows {
		if !seen[r.Benchmark] {
			seen[r.Benchmark] = true
			out = append(out, r.Benchmark)
		}
	}
	return out
}

// hasVolumes reports whether the set varies the CrossIn volume.
func hasVolumes(set *resultset.Set) bool {
	n := 0
	for _, v := range volumes(set) {
		if v != "0" {
			n++
		}
	}
	return n > 1
}

// sortedKeys returns m's keys sorted.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
