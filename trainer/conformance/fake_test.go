package conformance

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/engine/model"
	"github.com/crossin-lab/crossin/trainer"
	"github.com/crossin-lab/crossin/trainer/embedded"
)

// helperEnv makes the test binary act as a trainer command (see TestMain):
// "embedded" is crossin's own trainer, "ignore-checkpoints" the same
// trainer made to ignore its checkpoints, so a killed job starts over and
// still ends with byte-identical outputs.
const helperEnv = "CROSSIN_CONFORMANCE_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helperTrainer(mode, os.Args[len(os.Args)-1]))
	}
	os.Exit(m.Run())
}

func helperTrainer(mode, specPath string) int {
	job, err := trainer.ReadJobSpec(specPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	switch mode {
	case "embedded":
	case "ignore-checkpoints":
		if err := os.RemoveAll(filepath.Join(job.OutputDir, trainer.CheckpointDir)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	default:
		fmt.Fprintf(os.Stderr, "unknown helper mode %q\n", mode)
		return 2
	}
	if _, err := embedded.New().Run(context.Background(), job, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func tinyModel(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "model")
	// The tokenizer ships in the repository.
	tok := filepath.Join("..", "..", "experiments", "assets", "tokenizer", "tokenizer.json")
	if err := model.Init(dir, model.InitConfig{Layers: 1, Hidden: 16, Heads: 2, Intermediate: 32, Tokenizer: tok, Seed: 1, MaxPositions: 512}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestSuiteOnHelpers runs the whole suite on crossin's own trainer, which
// must pass every check with none skipped, and on a trainer that ignores
// its checkpoints, which must fail the resume check (and only it): its
// outputs equal an uninterrupted run's, so only the missing "resumed from
// step N" line can tell.
func TestSuiteOnHelpers(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model about a dozen times")
	}
	dir := tinyModel(t)
	for _, tt := range []struct {
		mode     string
		failing  string // the one check that must fail, "" for none
		contains string
	}{
		{"embedded", "", ""},
		{"ignore-checkpoints", "train resume after kill -9", "does not say it resumed"},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			rs, err := Run(context.Background(), Config{
				Command:  []string{os.Args[0]},
				Env:      []string{helperEnv + "=" + tt.mode},
				ModelDir: dir,
				WorkDir:  t.TempDir(),
				Steps:    8,
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) != 6 {
				t.Fatalf("%d results, want 6: %v", len(rs), rs)
			}
			for _, r := range rs {
				switch {
				case r.Skipped != "":
					t.Errorf("skipped: %s", r)
				case r.Name == tt.failing:
					if r.Err == nil || !strings.Contains(r.Err.Error(), tt.contains) {
						t.Errorf("%s: want a failure containing %q, got %v", r.Name, tt.contains, r)
					}
				case r.Err != nil:
					t.Errorf("unexpected failure: %s", r)
				}
			}
			if Failed(rs) != (tt.failing != "") {
				t.Errorf("Failed = %v", Failed(rs))
			}
		})
	}
}

// TestWriteFailureIsAnError makes the suite unable to write the spec of
// its unknown-field check (a directory holds the name): with a trainer that
// fails every job, that check used to pass; a failed write must be the
// suite's error instead.
func TestWriteFailureIsAnError(t *testing.T) {
	work := t.TempDir()
	if err := os.Mkdir(filepath.Join(work, "unknown-field.json"), 0o777); err != nil {
		t.Fatal(err)
	}
	rs, err := Run(context.Background(), Config{Command: []string{"false"}, ModelDir: tinyModel(t), WorkDir: work})
	if err != nil {
		t.Fatal(err)
	}
	r := rs[0]
	if r.Name != "bad spec fails cleanly" || r.Err == nil || !strings.Contains(r.Err.Error(), "unknown-field.json") {
		t.Errorf("got %s, want a failure naming unknown-field.json", r)
	}
}
