package runner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/crossin-lab/crossin/reports"
	"github.com/crossin-lab/crossin/resultset"
	"github.com/crossin-lab/crossin/runner/cache"
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
// into dir (created if needed), each written atomically.
func RenderReport(dir string, set *resultset.Set, layout reports.Layout) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	js, err := json.MarshalIndent(set, "", "  ")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	files := map[string][]byte{ResultsJSON: append(js, '\n')}
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
		if err := cache.WriteFileAtomic(filepath.Join(dir, name), files[name]); err != nil {
			return err
		}
	}
	return nil
}

// CopyReport copies the report files from a stored report output into dir.
func CopyReport(from, dir string) error {
	for _, name := range []string{ResultsJSON, ResultsMD, ResultsTable} {
		b, err := os.ReadFile(filepath.Join(from, name))
		if err != nil {
			return err
		}
		if err := cache.WriteFileAtomic(filepath.Join(dir, name), b); err != nil {
			return err
		}
	}
	return nil
}
