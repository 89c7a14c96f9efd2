package runner

import (
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/runner/plan"
	"github.com/crossin-lab/crossin/trainer"
)

// TestStageRunnersCoverKinds checks that every stage kind the plan knows
// has exactly one runner, and that a stage of another kind is an error
// rather than a silent no-op.
func TestStageRunnersCoverKinds(t *testing.T) {
	if len(stageRunners) != len(plan.Kinds) {
		t.Errorf("%d stage runners for %d kinds", len(stageRunners), len(plan.Kinds))
	}
	p := &plan.Plan{}
	backends := Backends{"embedded": fakeTrainerForKinds{}}
	for _, k := range plan.Kinds {
		if stageRunners[k] == nil {
			t.Errorf("no stage runner for kind %s", k)
			continue
		}
		run, err := stageFunc(p, &plan.Stage{ID: string(k) + "/x", Kind: k}, backends)
		if err != nil || run == nil {
			t.Errorf("stageFunc(%s) = %v, %v", k, run != nil, err)
		}
	}
	_, err := stageFunc(p, &plan.Stage{ID: "x", Kind: "nope"}, backends)
	if err == nil || !strings.Contains(err.Error(), `unknown kind "nope"`) {
		t.Errorf("unknown kind: err %v", err)
	}
	_, err = stageFunc(p, &plan.Stage{ID: "train/x", Kind: plan.KindTrain}, Backends{})
	if err == nil || !strings.Contains(err.Error(), "no trainer for the embedded backend") {
		t.Errorf("train without a trainer: err %v", err)
	}
}

type fakeTrainerForKinds struct{ trainer.Trainer }
