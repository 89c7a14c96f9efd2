package provenance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/crossin-lab/crossin/resultset"
	"github.com/crossin-lab/crossin/runner"
	"github.com/crossin-lab/crossin/schema"
)

// Reproduction is the outcome of Reproduce.
type Reproduction struct {
	Experiment string `json:"experiment"`
	// Results is the new results.json.
	Results string `json:"results"`
	// Identical is true when the new record's hashed part (experiment,
	// layout and every row with its score and sources) is byte for byte
	// the recorded one.
	Identical bool      `json:"identical"`
	Recorded  string    `json:"recorded_digest"`
	New       string    `json:"new_digest"`
	Rows      []RowDiff `json:"rows,omitempty"` // rows that differ
	// Other names differences outside the rows (experiment, layout, row
	// count).
	Other []Field `json:"other,omitempty"`
	// Ran and Cached count the stages of the new run.
	Ran    int `json:"ran"`
	Cached int `json:"cached"`
}

// RowDiff is one row that the re-run produced differently.
type RowDiff struct {
	Row       int     `json:"row"`
	Cell      string  `json:"cell"`
	Benchmark string  `json:"benchmark"`
	Fields    []Field `json:"fields"`
}

// Reproduce re-runs what rec names from spec (the recorded spec, see
// LoadSpec) with opt, which must name a fresh cache and an output
// directory, and compares the new results with the record byte for byte.
// The comparison covers the hashed part of the records; the run part
// (build, spec commit) describes each run and is not compared.
func Reproduce(ctx context.Context, rec *resultset.Set, spec *schema.Spec, opt runner.RunOptions) (*Reproduction, error) {
	if opt.Cache == nil || opt.OutDir == "" {
		return nil, fmt.Errorf("reproduce: a cache and an output directory are required")
	}
	opt.Experiments = []string{rec.Experiment}
	res, runErr := runner.Run(ctx, spec, opt)
	path := filepath.Join(opt.OutDir, rec.Experiment, runner.ResultsJSON)
	data, err := os.ReadFile(path)
	if err != nil {
		if runErr != nil {
			return nil, runErr
		}
		return nil, err
	}
	got, err := resultset.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r := Compare(rec, got)
	r.Results = path
	if res != nil && res.Summary != nil {
		r.Ran, r.Cached = res.Summary.Ran, res.Summary.Cached
	}
	return r, runErr
}

// Compare compares the hashed parts of two records, row by row.
func Compare(rec, got *resultset.Set) *Reproduction {
	r := &Reproduction{Experiment: rec.Experiment, Recorded: rec.ComputeDigest(), New: got.ComputeDigest()}
	r.Identical = r.Recorded == r.New
	if rec.Experiment != got.Experiment {
		r.Other = append(r.Other, Field{Field: "experiment", Recorded: rec.Experiment, Found: got.Experiment})
	}
	if !jsonEqual(rec.Layout, got.Layout) {
		r.Other = append(r.Other, Field{Field: "layout", Recorded: compactJSON(rec.Layout), Found: compactJSON(got.Layout)})
	}
	if len(rec.Rows) != len(got.Rows) {
		r.Other = append(r.Other, Field{Field: "rows", Recorded: fmt.Sprint(len(rec.Rows)), Found: fmt.Sprint(len(got.Rows))})
	}
	for i := 0; i < len(rec.Rows) && i < len(got.Rows); i++ {
		a, _ := resultset.Marshal(rec.Rows[i])
		b, _ := resultset.Marshal(got.Rows[i])
		if bytes.Equal(a, b) {
			continue
		}
		r.Rows = append(r.Rows, RowDiff{Row: i, Cell: rec.Rows[i].Cell, Benchmark: rec.Rows[i].Benchmark, Fields: diffPaths("", a, b)})
	}
	return r
}

// diffPaths names the JSON paths at which a and b differ, descending into
// objects and arrays of equal length.
func diffPaths(path string, a, b json.RawMessage) []Field {
	if jsonEqual(a, b) {
		return nil
	}
	var ao, bo map[string]json.RawMessage
	if json.Unmarshal(a, &ao) == nil && json.Unmarshal(b, &bo) == nil && ao != nil && bo != nil {
		keys := map[string]bool{}
		for k := range ao {
			keys[k] = true
		}
		for k := range bo {
			keys[k] = true
		}
		var out []Field
		for _, k := range sortedKeys(keys) {
			p := k
			if path != "" {
				p = path + "." + k
			}
			out = append(out, diffPaths(p, ao[k], bo[k])...)
		}
		return out
	}
	var aa, ba []json.RawMessage
	if json.Unmarshal(a, &aa) == nil && json.Unmarshal(b, &ba) == nil && len(aa) == len(ba) && len(aa) > 0 {
		var out []Field
		for i := range aa {
			out = append(out, diffPaths(fmt.Sprintf("%s[%d]", path, i), aa[i], ba[i])...)
		}
		return out
	}
	return []Field{{Field: path, Recorded: compactJSON(a), Found: compactJSON(b)}}
}
