package runner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/crossin-lab/crossin/atomicfile"
	"github.com/crossin-lab/crossin/reports"
	"github.com/crossin-lab/crossin/resultset"
)

// Files of a report stage's output (and of the results directory).
const (
	ResultsJSON   = "results.json" // resultset.Set
	ResultsMD     = "results.md"   // the comparison table, Markdown
	ResultsTable  = "results.txt"  // the comparison table as printed on a terminal
	DefaultOutDir = "results"
)

// ReportLayout returns the layout of the comparison table: the
// experiment's first declared layout, else the built-in main table
// (variant x benchmark: accuracy, consistency_3, AC3_3).
func ReportLayout(raw json.RawMessage) reports.Layout {
	if len(raw) > 0 {
		if ls, err := reports.ParseLayouts(raw); err == nil && len(ls) > 0 {
			return ls[0]
		}
	}
	return reports.DefaultLayouts()[0]
}

// RenderReport renders set as results.json, results.md and results.txt
// into dir (created if needed), each written atomically. The tables use
// the layout the set carries (the built-in main table if none), so that
// `crossin report --results results.json` redraws them byte for byte.
func RenderReport(dir string, set *resultset.Set) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	layout, err := reports.SetLayout(set)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	js, err := resultset.Encode(set)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	files := map[string][]byte{ResultsJSON: js}
	for name, format := range map[string]string{ResultsMD: reports.FormatMarkdown, ResultsTable: reports.FormatTerm} {
		var b bytes.Buffer
		if err := reports.Write(&b, set, layout, format); err != nil {
			if errors.Is(err, reports.ErrNoResults) {
				b.WriteString("(no results)\n")
			} else {
				return fmt.Errorf("report: %w", err)
			}
		}
		files[name] = b.Bytes()
	}
	for _, name := range []string{ResultsJSON, ResultsMD, ResultsTable} {
		if err := atomicfile.WriteAll(filepath.Join(dir, name), files[name], 0o666); err != nil {
			return err
		}
	}
	return nil
}
