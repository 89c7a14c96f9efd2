package plan

import (
	"encoding/json"

	"github.com/crossin-lab/crossin/schema"
)

// reportStage gathers an experiment's scores (rows, read from inputs)
// into its tables.
func (b *builder) reportStage(e *schema.Experiment, rows []ReportRow, inputs []Input) *Stage {
	var deps []string
	for _, in := range inputs {
		deps = append(deps, in.Stage)
	}
	rowsMeta := make([]ReportRow, len(rows))
	for i, r := range rows {
		r.Score = "" // stage IDs are names, not content
		rowsMeta[i] = r
	}
	layout := json.RawMessage("null")
	if len(e.Report) > 0 {
		layout = e.Report
	}
	return b.add(&Stage{
		ID:     "report/" + e.Name,
		Kind:   KindReport,
		Deps:   mergeSorted(nil, deps),
		Inputs: inputs,
		Cells:  nil,
		Report: &ReportParams{Experiment: e, Rows: rows},
		static: []Component{
			{Name: "experiment", Value: value(e.Name)},
			{Name: "rows", Value: value(rowsMeta)},
			{Name: "layout", Value: value(layout)},
		},
	}, e.Name)
}
