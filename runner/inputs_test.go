package runner

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/crossin-lab/crossin/runner/cache"
	"github.com/crossin-lab/crossin/schema"
	"github.com/crossin-lab/crossin/trainer"
)

// lateTrainer is fakeTrainer whose inputs vanish before it writes its
// manifest, as for a Kubernetes Job of a killed crossin that a re-run
// re-attaches to: the re-run's runner clears the stage's directories
// while the Job's pod, already past reading its inputs, finishes.
type lateTrainer struct{ fakeTrainer }

func (l *lateTrainer) Run(ctx context.Context, job *trainer.JobSpec, progress trainer.Progress) (*trainer.Manifest, error) {
	if _, err := l.fakeTrainer.Run(ctx, job, progress); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(filepath.Dir(job.Data[0])); err != nil {
		return nil, err
	}
	return trainer.WriteManifest(job.OutputDir, job.Kind, "fake", nil)
}

// TestStageInputsAreNoOutputs checks that a train or eval stage's outputs
// do not depend on its tokenized inputs being there when the trainer
// writes its manifest (they are not outputs: the runner removes them
// before caching), and that the cached manifests verify.
func TestStageInputsAreNoOutputs(t *testing.T) {
	_, spec := miniSpec(t, "")
	run := func(tr trainer.Trainer) map[string]string {
		c, err := cache.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(context.Background(), spec, RunOptions{Cache: c, OutDir: t.TempDir(), Backends: Backends{schema.BackendEmbedded: tr}})
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]string{}
		for n, r := range res.Summary.Results {
			if k := string(r.Stage.Kind); k != trainer.KindTrain && k != trainer.KindEval {
				continue
			}
			ids[n] = r.OutputID
			if _, err := trainer.ReadManifest(c.OutputDir(r.OutputID)); err != nil {
				t.Errorf("%s: cached output: %v", n, err)
			}
		}
		return ids
	}
	want, got := run(&fakeTrainer{}), run(&lateTrainer{})
	if len(want) == 0 || len(want) != len(got) {
		t.Fatalf("train and eval stages: %d, then %d", len(want), len(got))
	}
	for n, id := range want {
		if got[n] != id {
			t.Errorf("%s: output %s, but %s when its inputs were gone before the trainer wrote its manifest", n, id, got[n])
		}
	}
}
