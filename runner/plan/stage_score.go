package plan

import (
	"strings"

	"github.com/crossin-lab/crossin/schema"
)

// scoreStage computes the metrics of one eval's predictions.
func (b *builder) scoreStage(env *cellEnv, ev *Stage, bench *schema.Benchmark, content any, unres []string) *Stage {
	return b.add(&Stage{
		ID:         "score/" + strings.TrimPrefix(ev.ID, "eval/"),
		Kind:       KindScore,
		Deps:       []string{ev.ID},
		Cells:      []string{env.name},
		Inputs:     []Input{{Name: "predictions", Stage: ev.ID}},
		Score:      &ScoreParams{Benchmark: bench, Languages: bench.Eval.Languages, ConsistencyK: bench.ConsistencyK},
		Unresolved: unres,
		static: []Component{
			{Name: "metrics", Value: value(struct {
				Task         string   `json:"task"`
				Languages    []string `json:"languages"`
				ConsistencyK int      `json:"consistency_k"`
			}{bench.Task, bench.Eval.Languages, bench.ConsistencyK})},
			{Name: "benchmark_data", Value: value(content)},
		},
	}, env.exp.Name)
}
