package reports

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/mattn/go-runewidth"
	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/crossin-lab/crossin/resultset"
)

// Formats accepted by Render.
const (
	FormatTerm     = "term"
	FormatMarkdown = "md"
	FormatLaTeX    = "latex"
	FormatCSV      = "csv"
	FormatJSON     = "json"
	FormatHTML     = "html"
)

// Formats lists every format Render accepts.
var Formats = []string{FormatTerm, FormatMarkdown, FormatLaTeX, FormatCSV, FormatJSON, FormatHTML}

// Render writes t to w in format.
func Render(w io.Writer, t *Table, format string) error {
	switch format {
	case FormatTerm, "":
		return renderTerm(w, t)
	case FormatMarkdown, "markdown":
		return renderMarkdown(w, t)
	case FormatLaTeX, "tex":
		return renderLaTeX(w, t)
	case FormatCSV:
		return renderCSV(w, t)
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(t)
	case FormatHTML:
		return RenderHTML(w, []*Table{t}, nil)
	}
	return fmt.Errorf("unknown format %q, want one of %s", format, strings.Join(Formats, ", "))
}

// renderTerm draws the table compactly for an 80-100 column terminal: a
// line of group names over their columns, a line of short column names, a
// rule, then one line per row with right-aligned numbers, the best value
// of each column marked "*", and vertical rules between groups. Deltas
// from the baseline go on a line of their own under each row ("Δ"), so
// that a cell stays as narrow as its number.
func renderTerm(w io.Writer, t *Table) error {
	if t.Title != "" {
		fmt.Fprintln(w, t.Title)
	}
	nd := len(t.RowDims)
	hasDelta := false
	for _, r := range t.Rows {
		for _, c := range r.Cells {
			hasDelta = hasDelta || c.Delta != nil
		}
	}
	// The lines of the body: labels, then cells.
	var body [][]string
	for _, r := range t.Rows {
		lab := r.Labels
		if !hasDelta {
			lab = t.labels(r) // no Δ lines to explain the baseline: mark it
		}
		line := append([]string(nil), lab...)
		var delta []string
		anyDelta := false
		for _, c := range r.Cells {
			s := t.termText(c)
			if c.Best {
				s += "*"
			} else if c.Status == resultset.StatusOK {
				s += " "
			}
			line = append(line, s)
			d := ""
			if c.Delta != nil {
				d = t.formatSigned(*c.Delta) + " "
				anyDelta = true
			}
			delta = append(delta, d)
		}
		body = append(body, line)
		if anyDelta {
			dl := make([]string, nd)
			if t.baselineCol < nd {
				dl[t.baselineCol] = "  Δ"
			}
			body = append(body, append(dl, delta...))
		}
	}
	// Column widths: labels and cells, then groups at least as wide as
	// their names (the extra goes to the group's first column).
	header := make([]string, 0, nd)
	for _, d := range t.RowDims {
		header = append(header, shortDim(d))
	}
	for _, g := range t.Groups {
		header = append(header, g.Columns...)
	}
	width := make([]int, len(header))
	for i, h := range header {
		width[i] = runewidth.StringWidth(h)
	}
	for _, line := range body {
		for i, s := range line {
			width[i] = max(width[i], runewidth.StringWidth(s))
		}
	}
	col := nd
	for _, g := range t.Groups {
		n := len(g.Columns)
		if n == 0 {
			continue
		}
		inner := 0
		for i := col; i < col+n; i++ {
			inner += width[i]
		}
		inner += 2 * (n - 1)
		if gw := runewidth.StringWidth(g.Name); gw > inner {
			width[col] += gw - inner
		}
		col += n
	}
	labelWidth := 0
	for i := 0; i < nd; i++ {
		labelWidth += width[i]
	}
	labelWidth += 2 * (nd - 1)
	pad := func(s string, n int, right bool) string {
		gap := n - runewidth.StringWidth(s)
		if gap <= 0 {
			return s
		}
		if right {
			return strings.Repeat(" ", gap) + s
		}
		return s + strings.Repeat(" ", gap)
	}
	var b strings.Builder
	emit := func(cells []string, groupHeader bool) {
		var parts []string
		for i := 0; i < nd; i++ {
			parts = append(parts, pad(cells[i], width[i], false))
		}
		line := strings.Join(parts, "  ")
		col := nd
		for _, g := range t.Groups {
			n := len(g.Columns)
			var cs []string
			if groupHeader {
				inner := 2 * max(n-1, 0) // a group may have no columns yet
				for i := col; i < col+n; i++ {
					inner += width[i]
				}
				name := g.Name
				left := (inner - runewidth.StringWidth(name)) / 2
				cs = append(cs, pad(strings.Repeat(" ", max(left, 0))+name, inner, false))
			} else {
				for i := col; i < col+n; i++ {
					cs = append(cs, pad(cells[i], width[i], true))
				}
			}
			line += " │ " + strings.Join(cs, "  ")
			col += n
		}
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	emit(make([]string, len(header)), true)
	emit(header, false)
	rule := strings.Repeat("─", labelWidth)
	col = nd
	for _, g := range t.Groups {
		n := len(g.Columns)
		inner := 2 * max(n-1, 0) // a group may have no columns yet
		for i := col; i < col+n; i++ {
			inner += width[i]
		}
		rule += "─┼─" + strings.Repeat("─", inner)
		col += n
	}
	b.WriteString(rule + "\n")
	for _, line := range body {
		emit(line, false)
	}
	legendText := legend(t, "*")
	if hasDelta {
		legendText += "; Δ difference from the baseline (" + strings.Join(t.baselineNames(), ", ") + ")"
	}
	b.WriteString(legendText + "\n")
	if t.Provenance != "" {
		b.WriteString(t.Provenance + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// shortDim is a row dimension's title in the terminal table.
func shortDim(d string) string {
	if d == "Volume" {
		return "Vol"
	}
	return d
}

// termText renders a cell for the terminal: like text, but the spread is
// written without spaces and the delta is left to its own line.
func (t *Table) termText(c Cell) string {
	switch c.Status {
	case resultset.StatusMissing:
		return "–"
	case resultset.StatusFailed:
		return "failed"
	}
	s := t.Format(c.Value)
	if c.PM > 0 {
		s += "±" + t.Format(c.PM)
	}
	return s
}

// baselineNames lists the labels of the baseline rows, once each.
func (t *Table) baselineNames() []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range t.Rows {
		if !r.Baseline || t.baselineCol >= len(r.Labels) {
			continue
		}
		n := r.Labels[t.baselineCol]
		if n == "" {
			n = "baseline"
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// alignments left-aligns the nd label columns and right-aligns the n-nd
// number columns.
func alignments(nd, n int) []tw.Align {
	align := make([]tw.Align, n)
	for i := range align {
		align[i] = tw.AlignRight
		if i < nd {
			align[i] = tw.AlignLeft
		}
	}
	return align
}

// legend explains the marks used in a rendered table.
func legend(t *Table, bestMark string) string {
	parts := []string{bestMark + " best in column", "– not run"}
	if t.Percent {
		parts = append([]string{"values in %"}, parts...)
	}
	for _, r := range t.Rows {
		for _, c := range r.Cells {
			if c.PM > 0 {
				return strings.Join(append(parts, "± std over seeds or half the 95% bootstrap interval"), "; ")
			}
		}
	}
	return strings.Join(parts, "; ")
}

// renderMarkdown writes a GitHub-flavoured Markdown table; Markdown has no
// merged headers, so columns are named "Group Column"; best values bold.
func renderMarkdown(w io.Writer, t *Table) error {
	if t.Title != "" {
		fmt.Fprintf(w, "**%s**\n\n", t.Title)
	}
	nd := len(t.RowDims)
	header := append(append([]string(nil), t.RowDims...), t.columnNames()...)
	align := alignments(nd, len(header))
	table := tablewriter.NewTable(w,
		tablewriter.WithRenderer(renderer.NewMarkdown()),
		tablewriter.WithConfig(tablewriter.Config{
			Header: tw.CellConfig{Formatting: tw.CellFormatting{AutoFormat: tw.Off}, Alignment: tw.CellAlignment{PerColumn: align}},
			Row:    tw.CellConfig{Formatting: tw.CellFormatting{AutoFormat: tw.Off, AutoWrap: tw.WrapNone}, Alignment: tw.CellAlignment{PerColumn: align}},
		}),
	)
	table.Header(header)
	for _, r := range t.Rows {
		line := t.labels(r)
		for _, c := range r.Cells {
			s := t.text(c)
			if c.Best {
				s = "**" + s + "**"
			}
			line = append(line, s)
		}
		if err := table.Append(line); err != nil {
			return err
		}
	}
	if err := table.Render(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%s\n", legend(t, "bold:"))
	if err == nil && t.Provenance != "" {
		_, err = fmt.Fprintf(w, "\n%s\n", t.Provenance)
	}
	return err
}

// latexEscape escapes LaTeX's special characters in labels.
func latexEscape(s string) string {
	r := strings.NewReplacer(`\`, `\textbackslash{}`, `&`, `\&`, `%`, `\%`, `$`, `\$`, `#`, `\#`,
		`_`, `\_`, `{`, `\{`, `}`, `\}`, `~`, `\textasciitilde{}`, `^`, `\textasciicircum{}`)
	return r.Replace(s)
}

// renderLaTeX writes a booktabs table ready to paste into a paper: merged
// group headers with \cmidrule, best values in bold, missing cells as "--".
func renderLaTeX(w io.Writer, t *Table) error {
	nd := len(t.RowDims)
	var b strings.Builder
	ncols := 0
	for _, g := range t.Groups {
		ncols += len(g.Columns)
	}
	b.WriteString("% Generated by crossin report; requires \\usepackage{booktabs}\n")
	b.WriteString("\\begin{table}[t]\n\\centering\n")
	if t.Title != "" {
		fmt.Fprintf(&b, "\\caption{%s}\n", latexEscape(t.Title))
	}
	fmt.Fprintf(&b, "\\label{tab:%s}\n", latexEscape(t.Name))
	fmt.Fprintf(&b, "\\begin{tabular}{%s%s}\n\\toprule\n", strings.Repeat("l", nd), strings.Repeat("r", ncols))
	// Group header.
	line := make([]string, nd)
	col := nd + 1
	var rules []string
	for _, g := range t.Groups {
		line = append(line, fmt.Sprintf("\\multicolumn{%d}{c}{%s}", len(g.Columns), latexEscape(g.Name)))
		rules = append(rules, fmt.Sprintf("\\cmidrule(lr){%d-%d}", col, col+len(g.Columns)-1))
		col += len(g.Columns)
	}
	b.WriteString(strings.Join(line, " & ") + " \\\\\n")
	b.WriteString(strings.Join(rules, " ") + "\n")
	line = nil
	for _, d := range t.RowDims {
		line = append(line, latexEscape(d))
	}
	for _, g := range t.Groups {
		for _, c := range g.Columns {
			line = append(line, latexEscape(c))
		}
	}
	b.WriteString(strings.Join(line, " & ") + " \\\\\n\\midrule\n")
	for _, r := range t.Rows {
		line = nil
		for _, l := range t.labels(r) {
			line = append(line, latexEscape(l))
		}
		for _, c := range r.Cells {
			var s string
			switch c.Status {
			case resultset.StatusMissing:
				s = "--"
			case resultset.StatusFailed:
				s = "failed"
			default:
				s = t.Format(c.Value)
				if c.Best {
					s = "\\textbf{" + s + "}"
				}
				if c.PM > 0 {
					s += "$\\pm$" + t.Format(c.PM)
				}
				if c.Delta != nil {
					s += " {\\scriptsize(" + t.formatSigned(*c.Delta) + ")}"
				}
			}
			line = append(line, s)
		}
		b.WriteString(strings.Join(line, " & ") + " \\\\\n")
	}
	b.WriteString("\\bottomrule\n\\end{tabular}\n\\end{table}\n")
	if t.Provenance != "" {
		b.WriteString("% " + t.Provenance + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// renderCSV writes one header line and one line per row. Values are in the
// table's display units at full precision; a missing cell is empty and a
// failed one says "failed". Spread (±) and delta get their own columns
// when any cell has them.
func renderCSV(w io.Writer, t *Table) error {
	cw := csv.NewWriter(w)
	hasPM, hasDelta := false, false
	for _, r := range t.Rows {
		for _, c := range r.Cells {
			hasPM = hasPM || c.PM > 0
			hasDelta = hasDelta || c.Delta != nil
		}
	}
	header := append([]string(nil), t.RowDims...)
	header = append(header, "Baseline")
	for _, name := range t.columnNames() {
		header = append(header, name)
		if hasPM {
			header = append(header, name+" ±")
		}
		if hasDelta {
			header = append(header, name+" Δ")
		}
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	scale := func(v float64) string {
		if t.Percent {
			v *= 100
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	for _, r := range t.Rows {
		line := append([]string(nil), r.Labels...)
		line = append(line, strconv.FormatBool(r.Baseline))
		for _, c := range r.Cells {
			v, pm, d := "", "", ""
			switch c.Status {
			case resultset.StatusOK:
				v = scale(c.Value)
				if c.PM > 0 {
					pm = scale(c.PM)
				}
				if c.Delta != nil {
					d = scale(*c.Delta)
				}
			case resultset.StatusFailed:
				v = "failed"
			}
			line = append(line, v)
			if hasPM {
				line = append(line, pm)
			}
			if hasDelta {
				line = append(line, d)
			}
		}
		if err := cw.Write(line); err != nil {
			return err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	if t.Provenance != "" {
		// A comment line, as read by pandas (comment="#") and R.
		_, err := fmt.Fprintf(w, "# %s\n", t.Provenance)
		return err
	}
	return nil
}
