package reports

import (
	"io"

	"github.com/crossin-lab/crossin/resultset"
)

// Write renders set with layout in format, followed by the provenance
// footer (Footer). For FormatHTML it writes a whole report instead: the
// layout's table, the per-language breakdown and the standard figures.
func Write(w io.Writer, set *resultset.Set, layout Layout, format string) error {
	if len(set.Rows) == 0 {
		return ErrNoResults
	}
	t, err := Build(set, layout)
	if err != nil {
		return err
	}
	t.Provenance = Footer(set)
	if format != FormatHTML {
		return Render(w, t, format)
	}
	tables := []*Table{t}
	if layout.Kind != KindLanguage {
		lang := Layout{Name: "languages", Title: "Accuracy per language", Kind: KindLanguage,
			Rows: layout.Rows, K: layout.K, Decimals: layout.Decimals, Percent: layout.Percent}
		if lt, err := Build(set, lang); err == nil {
			tables = append(tables, lt)
		}
	}
	k := layout.K
	if k == 0 {
		k = 3
	}
	return RenderHTML(w, tables, Figures(set, k))
}
