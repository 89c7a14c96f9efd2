package runner

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/resultset"
	"github.com/crossin-lab/crossin/runner/cache"
	"github.com/crossin-lab/crossin/schema"
)

// snapshot lists every file and directory under dir with its size, mode
// and mtime.
func snapshot(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, fmt.Sprintf("%s %v %d %d", rel, fi.Mode(), fi.Size(), fi.ModTime().UnixNano()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// TestWarmRunWritesNothingToTheCache: a fully cached run only reads, so it
// works on a cache this process may not write (a shared or read-only
// one): no lock file, record or timestamp is written, and no lock file is
// needed.
func TestWarmRunWritesNothingToTheCache(t *testing.T) {
	c, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ft := &fakeTrainer{}
	_, spec := miniSpec(t, "")
	opts := RunOptions{Cache: c, OutDir: t.TempDir(), Jobs: 2, Backends: Backends{schema.BackendEmbedded: ft}}
	if _, err := Run(context.Background(), spec, opts); err != nil {
		t.Fatal(err)
	}
	// The action locks a cold run leaves are not needed to read (the
	// cache-wide gc.lock is only opened; see cache.TestUseReadOnly).
	os.RemoveAll(filepath.Join(c.Dir(), "locks"))
	before := snapshot(t, c.Dir())
	opts.OutDir = t.TempDir()
	res, err := Run(context.Background(), spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.Ran != 0 {
		t.Fatalf("warm run ran %v", ranStages(res.Summary))
	}
	after := snapshot(t, c.Dir())
	if strings.Join(before, "\n") != strings.Join(after, "\n") {
		t.Errorf("a fully cached run changed the cache:\nbefore:\n%s\nafter:\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
	}
	if os.Geteuid() != 0 {
		// Where permissions bind, also run on a really read-only cache.
		filepath.WalkDir(c.Dir(), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o555)
			}
			return nil
		})
		t.Cleanup(func() {
			filepath.WalkDir(c.Dir(), func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					os.Chmod(p, 0o755)
				}
				return nil
			})
		})
		ro, err := cache.Open(c.Dir())
		if err != nil {
			t.Fatal(err)
		}
		opts.Cache, opts.OutDir = ro, t.TempDir()
		if _, err := Run(context.Background(), spec, opts); err != nil {
			t.Fatalf("warm run on a read-only cache: %v", err)
		}
	}
}

// TestRunChecksResultsDirFirst: a results directory that cannot be
// written is reported before any stage runs, not after the compute.
func TestRunChecksResultsDirFirst(t *testing.T) {
	c, _ := cache.Open(t.TempDir())
	ft := &fakeTrainer{}
	_, spec := miniSpec(t, "")
	// A file where the results directory should be: no one can write
	// there, root included.
	blocked := filepath.Join(t.TempDir(), "results")
	os.WriteFile(blocked, []byte("not a directory"), 0o666)
	_, err := Run(context.Background(), spec, RunOptions{Cache: c, OutDir: blocked, Jobs: 1, Backends: Backends{schema.BackendEmbedded: ft}})
	if err == nil || !strings.Contains(err.Error(), "cannot be written") {
		t.Fatalf("err = %v, want the results directory named", err)
	}
	if len(ft.jobs) != 0 {
		t.Errorf("%d jobs ran before the error", len(ft.jobs))
	}
	if es, _ := c.List(); len(es) != 0 {
		t.Errorf("%d stages were run and cached before the error", len(es))
	}
}

// TestResultsReportsCorruptEntries: `crossin report` (Results) must not
// turn a corrupt score into a silently missing row.
func TestResultsReportsCorruptEntries(t *testing.T) {
	c, _ := cache.Open(t.TempDir())
	_, spec := miniSpec(t, "")
	if _, err := Run(context.Background(), spec, RunOptions{Cache: c, OutDir: t.TempDir(), Jobs: 2, Backends: Backends{schema.BackendEmbedded: &fakeTrainer{}}}); err != nil {
		t.Fatal(err)
	}
	set, _, err := Results(spec, c, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range set.Rows {
		if r.Status != resultset.StatusOK {
			t.Fatalf("row %s: %s before damage", r.Cell, r.Status)
		}
	}
	// Damage one score.
	entries, _ := c.List()
	damaged := ""
	for _, e := range entries {
		if e.Kind == "score" && strings.Contains(e.Stage, "x2x") {
			os.WriteFile(filepath.Join(c.OutputDir(e.OutputID), "score.json"), []byte("{}"), 0o666)
			damaged = e.Stage
		}
	}
	if damaged == "" {
		t.Fatal("no x2x score stage in the cache")
	}
	set, _, err = Results(spec, c, "")
	var ce *CorruptResultsError
	if !errors.As(err, &ce) || len(ce.Stages) != 1 || ce.Stages[0] != damaged {
		t.Fatalf("Results after damage: err %v, want the corrupt %s", err, damaged)
	}
	if set == nil {
		t.Fatal("no results along with the error")
	}
	missing := 0
	for _, r := range set.Rows {
		if r.Status == resultset.StatusMissing {
			missing++
		}
	}
	if missing != 1 || len(set.Rows) != 3 {
		t.Errorf("%d rows, %d missing; want 3 rows, 1 missing", len(set.Rows), missing)
	}
}

// TestRunKeyableExperiments: a spec whose directory holds an experiment
// that needs an unreachable registry beside one that does not runs the
// one it can (when no experiment was chosen) and names the other and -e;
// with the blocked one chosen, nothing runs and the error names -e.
func TestRunKeyableExperiments(t *testing.T) {
	c, _ := cache.Open(t.TempDir())
	ft := &fakeTrainer{}
	_, spec := miniSpec(t, `backends: remote: {kind: "container", image: "127.0.0.1:1/crossin/trainer:v1"}
experiments: blocked: {
	models: ["mini"]
	mixtures: ["base-20"]
	seeds: [7]
	benchmarks: ["mmlu"]
	backend: "remote"
	training: {learning_rate: 1e-3, max_steps: 2, batch_size: 2, grad_accum: 1, max_length: 64}
}
`)
	opts := RunOptions{Cache: c, OutDir: t.TempDir(), Jobs: 2, Backends: Backends{schema.BackendEmbedded: ft}}
	res, err := Run(context.Background(), spec, opts)
	if err == nil || !strings.Contains(err.Error(), "experiment blocked was not run") {
		t.Fatalf("err = %v, want the blocked experiment named", err)
	}
	if res == nil || res.Summary == nil || res.Summary.Ran == 0 || len(res.Reports) != 1 || res.Reports[0].Experiment != "mini" {
		t.Fatalf("the keyable experiment did not run: %+v", res)
	}
	opts.Experiments = []string{"blocked"}
	_, err = Run(context.Background(), spec, opts)
	if err == nil || !strings.Contains(err.Error(), "needed by experiment blocked; to run the others, choose them with -e (for example -e mini)") {
		t.Fatalf("err = %v, want a hint naming -e", err)
	}
}
