package train

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestCheckpointInterval(t *testing.T) {
	tests := []struct{ every, total, want int }{
		{0, 25, 3}, // the quickstart's Base-only training
		{0, 50, 5}, // and its Base + variant trainings
		{0, 5, 1},
		{0, 1, 1},
		{0, 10000, DefaultCheckpointEvery},
		{7, 25, 7},
	}
	for _, tt := range tests {
		if got := CheckpointInterval(tt.every, tt.total); got != tt.want {
			t.Errorf("CheckpointInterval(%d, %d) = %d, want %d", tt.every, tt.total, got, tt.want)
		}
	}
}

// TestDefaultIntervalResumesShortRuns: a training as short as the
// quickstart's, stopped halfway, resumes from a checkpoint with the
// default interval instead of starting again from step 1.
func TestDefaultIntervalResumesShortRuns(t *testing.T) {
	base := RandomBase(tinyDims(), 5)
	data := syntheticData(20, base.Vocab, 9)
	p := tinyParams(25)
	p.CheckpointEvery = 0 // the default
	dir := filepath.Join(t.TempDir(), "checkpoints")
	if _, err := Run(context.Background(), base, data, p, WithSeed(3), WithCheckpoints(dir), withStopAfter(13)); err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), base, data, p, WithSeed(3), WithCheckpoints(dir))
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed < 10 {
		t.Fatalf("stopped after step 13 of 25, resumed from step %d (0: no checkpoint to resume from)", res.Resumed)
	}
}

// TestOutputsIndependentOfCheckpointInterval: how often a run checkpoints,
// and whether it was stopped and resumed, changes no byte of the adapter
// or the loss curve (so the interval is rightly not in the cache key).
func TestOutputsIndependentOfCheckpointInterval(t *testing.T) {
	base := RandomBase(tinyDims(), 5)
	data := syntheticData(20, base.Vocab, 9)
	var want, wantCurve []byte
	for _, every := range []int{0, 1, 4, 7, 100} {
		for _, stop := range []int{0, 9} {
			t.Run(fmt.Sprintf("every=%d/stop=%d", every, stop), func(t *testing.T) {
				p := tinyParams(20)
				p.CheckpointEvery = every
				dir := filepath.Join(t.TempDir(), "checkpoints")
				if stop > 0 {
					if _, err := Run(context.Background(), base, data, p, WithSeed(11), WithCheckpoints(dir), withStopAfter(stop)); err != nil {
						t.Fatal(err)
					}
				}
				res, err := Run(context.Background(), base, data, p, WithSeed(11), WithCheckpoints(dir))
				if err != nil {
					t.Fatal(err)
				}
				got := adapterBytes(t, res.Adapter)
				curve := filepath.Join(t.TempDir(), "loss.json")
				if err := WriteLossCurve(curve, res.Curve); err != nil {
					t.Fatal(err)
				}
				gotCurve := readFile(t, curve)
				if want == nil {
					want, wantCurve = got, gotCurve
					return
				}
				if !bytes.Equal(got, want) {
					t.Error("adapter bytes differ from the default interval's")
				}
				if !bytes.Equal(gotCurve, wantCurve) {
					t.Errorf("loss curve differs:\n%s\nvs\n%s", gotCurve, wantCurve)
				}
			})
		}
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
