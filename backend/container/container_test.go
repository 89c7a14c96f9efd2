package container_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crossin-lab/crossin/backend/container"
	"github.com/crossin-lab/crossin/backend/container/containertest"
	"github.com/crossin-lab/crossin/internal/syncbuf"
	"github.com/crossin-lab/crossin/trainer"
)

// fixture makes a model dir, two data files and an output dir.
func fixture(t *testing.T, kind string, seed int64) *trainer.JobSpec {
	t.Helper()
	d := t.TempDir()
	os.MkdirAll(filepath.Join(d, "model"), 0o755)
	os.WriteFile(filepath.Join(d, "model", "config.json"), []byte("{}"), 0o644)
	os.MkdirAll(filepath.Join(d, "data"), 0o755)
	os.WriteFile(filepath.Join(d, "data", "a.jsonl"), []byte(`{"x":1}`+"\n"), 0o644)
	os.WriteFile(filepath.Join(d, "data", "b.jsonl"), []byte(`{"x":2}`+"\n"), 0o644)
	j := &trainer.JobSpec{
		Contract:  trainer.Contract,
		Kind:      kind,
		Model:     trainer.ModelRef{Dir: filepath.Join(d, "model")},
		Data:      []string{filepath.Join(d, "data", "a.jsonl"), filepath.Join(d, "data", "b.jsonl")},
		Seed:      seed,
		OutputDir: filepath.Join(d, "out"),
	}
	if kind == trainer.KindTrain {
		j.Train = &trainer.TrainParams{LearningRate: 1e-3, Epochs: 1, BatchSize: 1}
	} else {
		j.Eval = &trainer.EvalParams{Benchmark: "cross_mmlu", Mode: "loglik"}
	}
	return j
}

func TestPrepare(t *testing.T) {
	job := fixture(t, trainer.KindTrain, 1)
	for _, tc := range []struct {
		name   string
		engine container.Engine
		opts   []container.Option
		want   []string
		absent []string
	}{
		{"podman", container.Engine{Name: "podman", Path: "/usr/bin/podman"}, nil,
			[]string{"--network=none", "--security-opt label=disable", "-v " + job.Model.Dir + ":/job/model:ro", "-v " + job.OutputDir + ":/job/out:rw", "-v /spec.json:/job/spec.json:ro", "reg/img@sha256:x trainer run /job/spec.json", "--rm"},
			[]string{"--gpus"}},
		{"podman gpu rootless", container.Engine{Name: "podman", Path: "podman", Rootless: true}, []container.Option{container.WithGPUs(true)},
			[]string{"--device nvidia.com/gpu=all", "--userns=keep-id"}, []string{"--gpus"}},
		{"docker gpu network", container.Engine{Name: "docker", Path: "docker"}, []container.Option{container.WithGPUs(true), container.WithNetwork(true)},
			[]string{"--gpus all"}, []string{"--network=none", "nvidia.com/gpu", "label=disable", "--rm"}},
		{"user", container.Engine{Name: "docker", Path: "docker"}, []container.Option{container.WithUser("1000:1000")},
			[]string{"--user 1000:1000"}, nil},
		{"other entrypoint, extra run flags", container.Engine{Name: "docker", Path: "docker"},
			[]container.Option{container.WithCommand("/bin/train", "--job"), container.WithExtraArgs("--shm-size=8g")},
			[]string{"--shm-size=8g reg/img@sha256:x /bin/train --job /job/spec.json"}, []string{"trainer run"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.engine
			tr, err := container.New(&e, "reg/img@sha256:x", tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			inv, err := tr.Prepare(job, "/spec.json", "crossin-test")
			if err != nil {
				t.Fatal(err)
			}
			line := strings.Join(inv.Args, " ")
			if !strings.HasPrefix(line, "run --name crossin-test ") {
				t.Errorf("args start: %s", line)
			}
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("args lack %q:\n%s", w, line)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(line, a) {
					t.Errorf("args have %q:\n%s", a, line)
				}
			}
			if inv.Spec.Model.Dir != "/job/model" || inv.Spec.OutputDir != "/job/out" || inv.Spec.Data[1] != "/job/data/1/b.jsonl" {
				t.Errorf("container spec = %+v", inv.Spec)
			}
			if _, err := trainer.DecodeJobSpec(strings.NewReader(string(inv.SpecJSON)), "spec"); err != nil {
				t.Errorf("container spec does not decode: %v", err)
			}
		})
	}
}

func TestMapJobErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(j *trainer.JobSpec)
		want string
	}{
		{"relative model", func(j *trainer.JobSpec) { j.Model.Dir = "model" }, "not an absolute path"},
		{"missing data", func(j *trainer.JobSpec) { j.Data[0] += ".nope" }, "data[0]"},
		{"colon", func(j *trainer.JobSpec) { j.OutputDir = "/tmp/a:b" }, "output_dir"},
		{"invalid", func(j *trainer.JobSpec) { j.Contract = "v0" }, "contract"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := fixture(t, trainer.KindEval, 1)
			tc.edit(j)
			if _, _, err := container.MapJob(j); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestReadManifest(t *testing.T) {
	job := fixture(t, trainer.KindEval, 5)
	ft := containertest.FakeTrainer(t)
	if _, err := container.ReadManifest(job); err == nil {
		t.Fatal("no manifest accepted")
	}
	spec := writeSpec(t, job)
	if out, err := exec.Command(ft, "trainer", "run", spec).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if _, err := container.ReadManifest(job); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(job.OutputDir, trainer.OutputsFile), []byte("tampered\n"), 0o644)
	if _, err := container.ReadManifest(job); err == nil || !strings.Contains(err.Error(), "manifest says") {
		t.Fatalf("tampered output: %v", err)
	}
	job.Kind = trainer.KindTrain
	if _, err := container.ReadManifest(job); err == nil || !strings.Contains(err.Error(), "kind") {
		t.Fatalf("wrong kind: %v", err)
	}
}

func writeSpec(t *testing.T, job *trainer.JobSpec) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "spec.json")
	b, _ := jsonMarshal(job)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPodman runs jobs in a real container pulled by digest from the test
// registry: outputs byte-identical to running the trainer directly,
// read-only inputs, no network, exit codes, logs, cancel, missing image.
func TestPodman(t *testing.T) {
	eng := containertest.Engine(t)
	image := containertest.FakeTrainerImage(t)
	ctx := context.Background()
	// make the run really pull by digest
	exec.Command(eng.Path, "rmi", "-f", image).Run()
	tr, err := container.New(eng, image)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Preflight(ctx); err != nil {
		t.Fatal(err)
	}

	t.Run("train and eval match direct run", func(t *testing.T) {
		for _, kind := range []string{trainer.KindTrain, trainer.KindEval} {
			job := fixture(t, kind, 7)
			m, err := tr.Run(ctx, job, nil)
			if err != nil {
				t.Fatal(err)
			}
			if m.Summary["model_readonly"] != true {
				t.Errorf("model dir was writable in the container: %v", m.Summary)
			}
			if n, _ := m.Summary["net_ifaces"].(float64); n != 1 {
				t.Errorf("container saw %v network interfaces, want 1 (lo only, --network=none)", m.Summary["net_ifaces"])
			}
			if uid, _ := m.Summary["uid"].(float64); int(uid) != os.Getuid() {
				t.Errorf("container uid %v, host uid %d", m.Summary["uid"], os.Getuid())
			}
			direct := *job
			direct.OutputDir = filepath.Join(t.TempDir(), "direct")
			if out, err := exec.Command(containertest.FakeTrainer(t), "trainer", "run", writeSpec(t, &direct)).CombinedOutput(); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			md, err := container.ReadManifest(&direct)
			if err != nil {
				t.Fatal(err)
			}
			if len(md.Files) == 0 || len(md.Files) != len(m.Files) {
				t.Fatalf("files: container %v, direct %v", m.Files, md.Files)
			}
			for f, h := range md.Files {
				if m.Files[f] != h {
					t.Errorf("%s: container %s, direct %s", f, m.Files[f], h)
				}
			}
		}
	})

	t.Run("exit code and logs", func(t *testing.T) {
		var log strings.Builder
		tr2, _ := container.New(eng, image, container.WithLog(&log))
		_, err := tr2.Run(ctx, fixture(t, trainer.KindEval, 13), nil)
		var ee *container.ExitError
		if !errors.As(err, &ee) || ee.Code != 3 || !strings.Contains(ee.Tail, "failing on purpose") {
			t.Fatalf("err = %v", err)
		}
		if !strings.Contains(log.String(), "failing on purpose") {
			t.Errorf("log = %q", log.String())
		}
		if ok, _ := eng.Exists(ctx, ee.Name); ok {
			t.Errorf("container %s left behind", ee.Name)
		}
	})

	t.Run("cancel removes the container", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		var log syncbuf.Buffer
		tr2, _ := container.New(eng, image, container.WithLog(&log))
		errc := make(chan error, 1)
		before := ownContainers(eng)
		go func() { _, err := tr2.Run(cctx, fixture(t, trainer.KindEval, 99), nil); errc <- err }()
		name := waitRunning(t, eng, before)
		cancel()
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("Run did not return after cancel")
		}
		if ok, _ := eng.Exists(ctx, name); ok {
			t.Fatalf("container %s still exists after cancel", name)
		}
	})

	t.Run("missing image fails before work", func(t *testing.T) {
		bad := image[:strings.LastIndex(image, "@")] + "@sha256:" + strings.Repeat("0", 64)
		tr2, _ := container.New(eng, bad)
		if err := tr2.Preflight(ctx); err == nil || !strings.Contains(err.Error(), "pull") {
			t.Fatalf("Preflight(missing) = %v", err)
		}
	})
}

// ownContainers lists the running containers named like this package's
// (crossin-p<pid>-<8 hex>), not the Slurm backend's (crossin-<job id>), whose
// tests may run at the same time.
func ownContainers(eng *container.Engine) map[string]bool {
	out, _ := exec.Command(eng.Path, "ps", "--format", "{{.Names}}").Output()
	m := map[string]bool{}
	for _, f := range strings.Fields(string(out)) {
		if ownName.MatchString(f) {
			m[f] = true
		}
	}
	return m
}

var ownName = regexp.MustCompile(`^crossin-p[0-9]+-[0-9a-f]{8}$`)

// waitRunning waits for a container of ours that was not running before.
// Ours: started by this process (NewName puts the PID in the name), since
// other packages' tests (the kubernetes backend's comparison with the
// container backend) start containers on the same podman at the same time.
func waitRunning(t *testing.T, eng *container.Engine, before map[string]bool) string {
	t.Helper()
	mine := fmt.Sprintf("crossin-p%d-", os.Getpid())
	for i := 0; i < 300; i++ {
		for n := range ownContainers(eng) {
			if !before[n] && strings.HasPrefix(n, mine) {
				return n
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("container did not start")
	return ""
}

// TestHelperRun is not a test: TestKilledCrossin runs the test binary with
// it to get a crossin-like process running a container job, then kills it.
func TestHelperRun(t *testing.T) {
	spec, image := os.Getenv("CROSSIN_HELPER_SPEC"), os.Getenv("CROSSIN_HELPER_IMAGE")
	if spec == "" {
		t.Skip("helper process only")
	}
	eng, err := container.Detect(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	job, err := trainer.ReadJobSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	tr, _ := container.New(eng, image)
	tr.Run(context.Background(), job, nil)
}

// TestKilledCrossin: a crossin killed with -9 cannot remove its container;
// the next crossin removes it (ReapOrphans) before it runs anything, so no
// orphan keeps writing into an output directory a resumed run reuses.
func TestKilledCrossin(t *testing.T) {
	eng := containertest.Engine(t)
	image := containertest.FakeTrainerImage(t)
	job := fixture(t, trainer.KindEval, 99) // sleeps
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperRun$")
	cmd.Env = append(os.Environ(), "CROSSIN_HELPER_SPEC="+writeSpec(t, job), "CROSSIN_HELPER_IMAGE="+image)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("crossin-p%d-", cmd.Process.Pid)
	var name string
	for i := 0; i < 300 && name == ""; i++ {
		for n := range ownContainers(eng) {
			if strings.HasPrefix(n, prefix) {
				name = n
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if name == "" {
		cmd.Process.Kill()
		t.Fatal("helper's container did not start")
	}
	cmd.Process.Kill() // kill -9
	cmd.Wait()
	if ok, _ := eng.Exists(context.Background(), name); !ok {
		t.Fatalf("container %s vanished with its crossin: the test does not test anything", name)
	}
	removed, err := eng.ReapOrphans(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := eng.Exists(context.Background(), name); ok {
		t.Fatalf("orphan %s survived ReapOrphans (removed %v)", name, removed)
	}
}
