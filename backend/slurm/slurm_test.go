package slurm

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crossin-lab/crossin/backend/container"
	"github.com/crossin-lab/crossin/backend/container/containertest"
	"github.com/crossin-lab/crossin/trainer"
)

func TestParseShowJob(t *testing.T) {
	out := `JobId=12 JobName=a UserId=root(0) JobState=COMPLETED Reason=None Dependency=(null) ExitCode=0:0 RunTime=00:00:01
JobId=14 ArrayJobId=13 ArrayTaskId=1 JobName=b JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0
JobId=13 ArrayJobId=13 ArrayTaskId=2-5,7%2 JobName=b JobState=PENDING Reason=Dependency ExitCode=0:0
JobId=20 JobName=c JobState=CANCELLED Reason=DependencyNeverSatisfied ExitCode=0:15
`
	jobs := parseShowJob(out)
	if len(jobs) != 4 {
		t.Fatalf("parsed %d jobs", len(jobs))
	}
	for _, tc := range []struct {
		id    string
		state string
		exit  int
	}{
		{"12", "COMPLETED", 0},
		{"13_1", "FAILED", 3},
		{"13_2", "PENDING", 0},
		{"13_5", "PENDING", 0},
		{"13_7", "PENDING", 0},
		{"13_6", "", 0},
		{"13", "", 0},
		{"20", "CANCELLED", 0},
	} {
		var got jobInfo
		for _, j := range jobs {
			if j.match(tc.id) {
				got = j
				break
			}
		}
		if got.State != tc.state || got.Exit != tc.exit {
			t.Errorf("%s: state %q exit %d, want %q %d", tc.id, got.State, got.Exit, tc.state, tc.exit)
		}
	}
	if jobs[3].Signal != 15 || jobs[3].Reason != "DependencyNeverSatisfied" {
		t.Errorf("job 20 = %+v", jobs[3])
	}
	for s, want := range map[string]bool{"COMPLETED": true, "FAILED": true, "TIMEOUT": true, "OUT_OF_MEMORY": true, "PENDING": false, "RUNNING": false, "COMPLETING": false, "": false} {
		if terminal(s) != want {
			t.Errorf("terminal(%q) = %v", s, !want)
		}
	}
}

func fixture(t *testing.T, dir, kind string, seed int64) *trainer.JobSpec {
	t.Helper()
	os.MkdirAll(filepath.Join(dir, "model"), 0o755)
	os.WriteFile(filepath.Join(dir, "model", "config.json"), []byte("{}"), 0o644)
	data := filepath.Join(dir, "data.jsonl")
	os.WriteFile(data, []byte(`{"x":1}`+"\n"), 0o644)
	j := &trainer.JobSpec{Contract: trainer.Contract, Kind: kind, Model: trainer.ModelRef{Dir: filepath.Join(dir, "model")},
		Data: []string{data}, Seed: seed, OutputDir: filepath.Join(dir, "out", kind+"-"+itoa(seed))}
	if kind == trainer.KindTrain {
		j.Train = &trainer.TrainParams{LearningRate: 1e-3, Epochs: 1, BatchSize: 1}
	} else {
		j.Eval = &trainer.EvalParams{Benchmark: "cross_mmlu", Mode: "loglik"}
	}
	return j
}

func itoa(i int64) string { b, _ := json.Marshal(i); return string(b) }

// fakeTools writes sbatch/scontrol/scancel stand-ins that record calls.
func TestScriptAndGrouping(t *testing.T) {
	dir := t.TempDir()
	eng := &container.Engine{Name: "podman", Path: "/usr/bin/podman"}
	ct, _ := container.New(eng, "reg/img@sha256:abc")
	bin := filepath.Join(dir, "bin")
	os.MkdirAll(bin, 0o755)
	// sbatch stub: prints increasing ids and logs its arguments
	os.WriteFile(filepath.Join(bin, "sbatch"), []byte("#!/bin/sh\necho \"$@\" >> "+dir+"/calls\nn=$(wc -l < "+dir+"/calls)\necho $((100+n))\n"), 0o755)
	os.WriteFile(filepath.Join(bin, "squeue"), []byte("#!/bin/sh\nexit 0\n"), 0o755)
	b, err := New(Config{WorkDir: filepath.Join(dir, "work"), Container: ct, Sbatch: filepath.Join(bin, "sbatch"), Squeue: filepath.Join(bin, "squeue"),
		Resources: Resources{Partition: "gpu", Gres: "gpu:1", Time: "01:00:00", Mem: "16G", CPUs: 4}})
	if err != nil {
		t.Fatal(err)
	}
	j := func(s int64) *trainer.JobSpec { return fixture(t, dir, trainer.KindTrain, s) }
	e := func(s int64) *trainer.JobSpec { return fixture(t, dir, trainer.KindEval, s) }
	sub, err := b.Submit(context.Background(), []Node{
		{ID: "eval-a", Job: e(1), After: []string{"train-a"}},
		{ID: "train-a", Job: j(1), Array: "train"},
		{ID: "train-b", Job: j(2), Array: "train"},
		{ID: "report", Job: e(3), After: []string{"eval-a", "train-b"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"train-a": "101_0", "train-b": "101_1", "eval-a": "102", "report": "103"}
	for n, id := range want {
		if sub.JobID(n) != id {
			t.Errorf("%s = %s, want %s", n, sub.JobID(n), id)
		}
	}
	calls, _ := os.ReadFile(filepath.Join(dir, "calls"))
	lines := strings.Split(strings.TrimSpace(string(calls)), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "--parsable --comment=crossin:") || !strings.Contains(lines[0], " --array=0-1 ") ||
		!strings.Contains(lines[1], "--dependency=afterok:101_0 --kill-on-invalid-dep=yes") ||
		!strings.Contains(lines[2], "--dependency=afterok:101_1:102 --kill-on-invalid-dep=yes") {
		t.Fatalf("sbatch calls:\n%s", calls)
	}
	f0 := strings.Fields(lines[0])
	script, _ := os.ReadFile(f0[len(f0)-1])
	for _, w := range []string{"#SBATCH --partition=gpu", "#SBATCH --gres=gpu:1", "#SBATCH --time=01:00:00", "#SBATCH --mem=16G", "#SBATCH --cpus-per-task=4",
		"trap 'cleanup; exit 143' TERM INT", `/usr/bin/podman rm -f -t 0 "$name"`, `run_container --name "$name"`, "0)\n", "1)\n", "reg/img@sha256:abc trainer run /job/spec.json"} {
		if !strings.Contains(string(script), w) {
			t.Errorf("script lacks %q:\n%s", w, script)
		}
	}
	if strings.Contains(string(script), " --rm ") {
		t.Errorf("script container runs with --rm (logs would be lost):\n%s", script)
	}
	if _, err := b.Submit(context.Background(), []Node{{ID: "a", Job: j(1), After: []string{"b"}}, {ID: "b", Job: j(2), After: []string{"a"}}}); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle: %v", err)
	}
	if _, err := b.Submit(context.Background(), []Node{{ID: "a", Job: j(1), After: []string{"zz"}}}); err == nil || !strings.Contains(err.Error(), "unknown node") {
		t.Errorf("unknown dep: %v", err)
	}
}

func needSlurm(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	if os.Getenv("CROSSIN_TEST_SLURM") == "" {
		t.Skip("integration test: CROSSIN_TEST_SLURM not set (run .ci/services.sh and source .ci/services.env)")
	}
}

// TestSlurmBinary runs a DAG with the trainer binary directly on the node:
// an array of two trainings, an eval after one of them, a failing job whose
// dependent is killed (not left pending).
func TestSlurmBinary(t *testing.T) {
	needSlurm(t)
	ft := containertest.FakeTrainer(t)
	dir := t.TempDir()
	b, err := New(Config{WorkDir: filepath.Join(dir, "work"), Binary: ft, Poll: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := b.Preflight(ctx); err != nil {
		t.Fatal(err)
	}
	nodes := []Node{
		{ID: "train-1", Job: fixture(t, dir, trainer.KindTrain, 1), Array: "train"},
		{ID: "train-2", Job: fixture(t, dir, trainer.KindTrain, 2), Array: "train"},
		{ID: "eval-1", Job: fixture(t, dir, trainer.KindEval, 1), After: []string{"train-1"}},
		{ID: "bad", Job: fixture(t, dir, trainer.KindEval, 13)},
		{ID: "after-bad", Job: fixture(t, dir, trainer.KindEval, 4), After: []string{"bad"}},
	}
	sub, err := b.Submit(ctx, nodes)
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.Wait(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"train-1", "train-2", "eval-1"} {
		if res[n].State != "COMPLETED" {
			t.Errorf("%s: %v", n, res[n].Err())
		}
	}
	if r := res["bad"]; r.State != "FAILED" || r.ExitCode != 3 || !strings.Contains(r.Err().Error(), "failing on purpose") {
		t.Errorf("bad = %+v (%v)", r, r.Err())
	}
	if r := res["after-bad"]; r.State != "CANCELLED" {
		t.Errorf("after-bad = %+v, want CANCELLED (kill-on-invalid-dep)", r)
	}
	if _, err := container.ReadManifest(nodes[2].Job); err != nil {
		t.Error(err)
	}
	// Run (the trainer.Trainer form) gives the manifest
	m, err := b.Run(ctx, fixture(t, dir, trainer.KindEval, 5), nil)
	if err != nil || m.Kind != trainer.KindEval {
		t.Fatalf("Run = %+v, %v", m, err)
	}
}

// TestSlurmContainer runs jobs in containers under Slurm: the outputs are
// byte-identical to the direct run, and a cancelled job (scancel, as a user
// would) leaves no container behind.
func TestSlurmContainer(t *testing.T) {
	needSlurm(t)
	eng := containertest.Engine(t)
	image := containertest.FakeTrainerImage(t)
	dir := t.TempDir()
	ct, err := container.New(eng, image)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{WorkDir: filepath.Join(dir, "work"), Container: ct, Poll: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := b.Preflight(ctx); err != nil {
		t.Fatal(err)
	}
	job := fixture(t, dir, trainer.KindTrain, 7)
	m, err := b.Run(ctx, job, nil)
	if err != nil {
		t.Fatal(err)
	}
	direct := *job
	direct.OutputDir = filepath.Join(dir, "direct")
	spec := filepath.Join(dir, "direct.json")
	data, _ := json.Marshal(&direct)
	os.WriteFile(spec, data, 0o644)
	if out, err := exec.Command(containertest.FakeTrainer(t), "trainer", "run", spec).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	md, err := container.ReadManifest(&direct)
	if err != nil {
		t.Fatal(err)
	}
	for f, h := range md.Files {
		if m.Files[f] != h {
			t.Errorf("%s: slurm+container %s, direct %s", f, m.Files[f], h)
		}
	}
	if m.Summary["model_readonly"] != true {
		t.Errorf("summary = %v", m.Summary)
	}

	t.Run("scancel leaves no container", func(t *testing.T) {
		sub, err := b.Submit(ctx, []Node{{ID: "long", Job: fixture(t, dir, trainer.KindEval, 99)}})
		if err != nil {
			t.Fatal(err)
		}
		name := "crossin-" + sub.JobID("long")
		waitFor(t, 60*time.Second, func() bool { ok, _ := eng.Exists(ctx, name); return ok })
		// cancel the way a user would: plain scancel, not b.Cancel
		if out, err := exec.Command("scancel", sub.JobID("long")).CombinedOutput(); err != nil {
			t.Fatalf("scancel: %v %s", err, out)
		}
		res, err := b.Wait(ctx, sub)
		if err != nil {
			t.Fatal(err)
		}
		if res["long"].State != "CANCELLED" {
			t.Errorf("state = %s", res["long"].State)
		}
		waitFor(t, 30*time.Second, func() bool { ok, err := eng.Exists(ctx, name); return err == nil && !ok })
	})

	t.Run("rerun after a killed crossin cancels the stale job", func(t *testing.T) {
		// a crossin killed with -9 leaves its job running under Slurm
		stale := fixture(t, dir, trainer.KindEval, 99)
		sub, err := b.Submit(ctx, []Node{{ID: "stale", Job: stale}})
		if err != nil {
			t.Fatal(err)
		}
		name := "crossin-" + sub.JobID("stale")
		waitFor(t, 60*time.Second, func() bool { ok, _ := eng.Exists(ctx, name); return ok })
		// the next run resumes the same stage: same output directory
		again := fixture(t, dir, trainer.KindEval, 5)
		again.OutputDir = stale.OutputDir
		if _, err := b.Run(ctx, again, nil); err != nil {
			t.Fatal(err)
		}
		st, err := b.status(ctx, sub)
		if err != nil || st["stale"].State != "CANCELLED" {
			t.Errorf("stale job: %+v, %v", st["stale"], err)
		}
		if ok, _ := eng.Exists(ctx, name); ok {
			t.Errorf("stale job's container %s survived", name)
		}
	})

	t.Run("context cancel stops job and container", func(t *testing.T) {
		cctx, ccancel := context.WithCancel(ctx)
		errc := make(chan error, 1)
		before := containerNames(eng)
		go func() { _, err := b.Run(cctx, fixture(t, dir, trainer.KindEval, 99), nil); errc <- err }()
		var name string
		waitFor(t, 60*time.Second, func() bool {
			for n := range containerNames(eng) {
				// other packages' tests (the kubernetes backend's
				// comparison with Slurm) start crossin-N containers on
				// the same podman at the same time: only one that mounts
				// this test's directory is ours
				if !before[n] && mountsUnder(eng, n, dir) {
					name = n
					return true
				}
			}
			return false
		})
		ccancel()
		select {
		case err := <-errc:
			if err == nil || !strings.Contains(err.Error(), "cancel") {
				t.Fatalf("err = %v", err)
			}
		case <-time.After(90 * time.Second):
			t.Fatal("Run did not return")
		}
		if ok, _ := eng.Exists(ctx, name); ok {
			t.Fatalf("container %s survived the cancel", name)
		}
	})
}

// mountsUnder reports whether container name mounts a path under dir.
func mountsUnder(eng *container.Engine, name, dir string) bool {
	out, err := exec.Command(eng.Path, "inspect", "--format", "{{range .Mounts}}{{.Source}}\n{{end}}", name).Output()
	if err != nil {
		return false
	}
	for _, src := range strings.Fields(string(out)) {
		if src == dir || strings.HasPrefix(src, dir+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

func containerNames(eng *container.Engine) map[string]bool {
	out, _ := exec.Command(eng.Path, "ps", "-a", "--format", "{{.Names}}").Output()
	m := map[string]bool{}
	for _, f := range strings.Fields(string(out)) {
		if slurmName.MatchString(f) {
			m[f] = true
		}
	}
	return m
}

// slurmName matches the containers of Slurm jobs (crossin-<job id>), not
// those of the container package's tests that may run at the same time.
var slurmName = regexp.MustCompile(`^crossin-[0-9]+(_[0-9]+)?$`)

func waitFor(t *testing.T, d time.Duration, ok func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if ok() {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("condition not met within %v", d)
}
