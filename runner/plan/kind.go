package plan

import (
	"fmt"
	"slices"
	"strings"
)

// Kind is a stage kind. Plan, runner and cli all use this type; Kinds is
// the one list of them.
type Kind string

// Stage kinds, in pipeline order.
const (
	KindModel  Kind = "model"  // fetch a hub model, hash a local one, or create a random one
	KindData   Kind = "data"   // build a mixture's training data
	KindTrain  Kind = "train"  // LoRA fine-tuning
	KindEval   Kind = "eval"   // benchmark inference
	KindScore  Kind = "score"  // metrics from predictions
	KindReport Kind = "report" // an experiment's tables
)

// Kinds lists every stage kind in pipeline order. A stage depends only on
// stages of earlier kinds, which is what makes sorting by kind a
// topological order (Plan.order).
var Kinds = []Kind{KindModel, KindData, KindTrain, KindEval, KindScore, KindReport}

// ParseKind returns the stage kind named s, or an error listing the kinds.
func ParseKind(s string) (Kind, error) {
	if k := Kind(s); slices.Contains(Kinds, k) {
		return k, nil
	}
	return "", fmt.Errorf("unknown stage kind %q (kinds: %s)", s, KindList())
}

// KindList is the stage kinds in pipeline order, comma-separated, for
// messages.
func KindList() string {
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// rank is k's position in the pipeline; unknown kinds sort last.
func (k Kind) rank() int {
	if i := slices.Index(Kinds, k); i >= 0 {
		return i
	}
	return len(Kinds)
}
