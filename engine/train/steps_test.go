package train

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
)

// stepsOf lays an epoch plan out as a fixed plan with the same micro-batch
// composition (what package jobdata writes for the same data and seed).
func stepsOf(t *testing.T, base *Base, data []Example, p Config, seed int64) [][]Sequence {
	t.Helper()
	pl, err := makePlan(base, data, p, seed, LoRAConfig(p.LoRA))
	if err != nil {
		t.Fatal(err)
	}
	steps := make([][]Sequence, pl.total)
	for s := range steps {
		for k := 0; k < pl.accum; k++ {
			m := s*pl.accum + k
			epoch, i := m/pl.perEpoch, m%pl.perEpoch
			order := EpochOrder(len(pl.exs), seed, epoch)
			for _, j := range order[i*pl.batchSize : min(len(order), (i+1)*pl.batchSize)] {
				ids, labels, _ := pl.exs[j].truncate(p.MaxLength)
				steps[s] = append(steps[s], Sequence{ids, labels})
			}
		}
	}
	return steps
}

// TestFixedStepsMatchEpochPlan: a fixed plan with an epoch plan's
// composition trains to the same bytes (adapter and loss curve), so moving
// the data order out of the engine changed no result.
func TestFixedStepsMatchEpochPlan(t *testing.T) {
	base := RandomBase(tinyDims(), 3)
	data := syntheticData(16, base.Vocab, 5) // 16 = 2 x 4 x 2: no short micro-batch
	p := tinyParams(6)
	p.BatchSize, p.GradAccum = 2, 4
	p.LoRA.Dropout = 0.1 // dropout masks must line up too
	want, err := Run(context.Background(), base, data, p, WithSeed(9))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Run(context.Background(), base, nil, p, WithSeed(9), WithSteps(stepsOf(t, base, data, p, 9)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(adapterBytes(t, got.Adapter), adapterBytes(t, want.Adapter)) {
		t.Error("adapter from the fixed plan differs from the epoch plan's")
	}
	if fmt.Sprint(got.Curve) != fmt.Sprint(want.Curve) {
		t.Errorf("loss curves differ:\n%v\n%v", got.Curve, want.Curve)
	}
	// The plan is really followed: another order gives another adapter.
	steps := stepsOf(t, base, data, p, 9)
	steps[0], steps[1] = steps[1], steps[0]
	other, err := Run(context.Background(), base, nil, p, WithSeed(9), WithSteps(steps))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(adapterBytes(t, other.Adapter), adapterBytes(t, want.Adapter)) {
		t.Error("swapping two steps did not change the adapter")
	}
}

func TestFixedStepsBadInput(t *testing.T) {
	base := RandomBase(tinyDims(), 3)
	p := tinyParams(2)
	for _, tc := range []struct {
		steps [][]Sequence
		want  string
	}{
		{[][]Sequence{}, "no optimiser steps"},
		{[][]Sequence{{}}, "step 1 has no examples"},
		{[][]Sequence{{{IDs: []int32{1, 2}, Labels: []int32{1}}}}, "2 ids and 1 labels"},
		{[][]Sequence{{{IDs: []int32{1, int32(base.Vocab)}, Labels: []int32{1, 2}}}}, "outside the model's vocabulary"},
	} {
		_, err := Run(context.Background(), base, nil, p, WithSteps(tc.steps))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.steps, err, tc.want)
		}
	}
	if _, err := Run(context.Background(), base, syntheticData(2, base.Vocab, 1), p, WithSteps([][]Sequence{{{IDs: []int32{1, 2}, Labels: []int32{-100, 2}}}})); err == nil {
		t.Error("data and steps together: want an error")
	}
}
