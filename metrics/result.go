// Package metrics computes SeaEval's cross-lingual consistency metrics:
// accuracy, consistency_k and AC3_k.
package metrics

// Result is the score of one benchmark run over a language set. Its JSON
// form uses SeaEval's keys (overall_acc, language_acc, consistency_score_k,
// AC3_k, detailed_consistency_score) so it can be compared with published
// SeaEval score files; see MarshalJSON and MarshalSeaEval.
type Result struct {
	Benchmark   string             `json:"-"`
	Languages   []string           `json:"-"` // SeaEval language names, in evaluation order
	N           int                `json:"-"` // questions scored
	OverallAcc  float64            `json:"-"` // mean of LanguageAcc
	LanguageAcc map[string]float64 `json:"-"`
	// Consistency[k] is consistency_score_k for k in 2..len(Languages).
	Consistency map[int]float64 `json:"-"`
	// AC3[k] is the harmonic mean of OverallAcc and Consistency[k].
	AC3 map[int]float64 `json:"-"`
	// Detailed[k] maps a subset name (its languages in evaluation order
	// joined by ",", as SeaEval names them: "English,Chinese") to its score.
	Detailed map[int]map[string]float64 `json:"-"`
	// AccCI holds per-language bootstrap 95% intervals (an addition to SeaEval).
	AccCI map[string][2]float64 `json:"-"`
}
