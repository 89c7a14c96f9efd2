package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/engine/tensor"
	"github.com/crossin-lab/crossin/runner/plan"
	"github.com/crossin-lab/crossin/schema"
)

// TestPlanKeysCarryArithmetic checks that every command's plan options key
// the quickstart's embedded train and eval stages on this machine's
// arithmetic path.
func TestPlanKeysCarryArithmetic(t *testing.T) {
	opts, err := cachePlanOptions(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	spec, err := schema.Load("../experiments/quickstart.cue")
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Build(spec, opts...)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range p.Stages {
		if s.Kind != plan.KindTrain && s.Kind != plan.KindEval {
			continue
		}
		n++
		if !strings.Contains(string(s.Key.Canonical()), `"arithmetic":"`+tensor.ArithmeticPath()+`"`) {
			t.Errorf("%s: key lacks the arithmetic path %s: %s", s.ID, tensor.ArithmeticPath(), s.Key.Canonical())
		}
	}
	if n == 0 {
		t.Fatal("quickstart has no train or eval stage")
	}
}
