package kubernetes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/crossin-lab/crossin/backend/container"
	"github.com/crossin-lab/crossin/trainer"
)

func testJob(t *testing.T) *trainer.JobSpec {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "model"), 0o755)
	os.WriteFile(filepath.Join(dir, "bench.jsonl"), []byte("{}\n"), 0o644)
	return &trainer.JobSpec{
		Contract: trainer.Contract, Kind: trainer.KindEval,
		Model: trainer.ModelRef{Dir: filepath.Join(dir, "model")}, Data: []string{filepath.Join(dir, "bench.jsonl")},
		Eval: &trainer.EvalParams{Benchmark: "cross_mmlu", Mode: "loglik"}, OutputDir: filepath.Join(dir, "out"), Threads: 2,
	}
}

func TestJobName(t *testing.T) {
	for _, tc := range []struct{ kind, action, want string }{
		{"train", "sha256:" + strings.Repeat("ab", 32), "crossin-train-" + strings.Repeat("ab", 20)},
		{"eval", strings.Repeat("0F", 32), "crossin-eval-" + strings.Repeat("0f", 20)},
		{"weird/kind!", "12", "crossin-weird.kind-12"},
	} {
		got := JobName(tc.kind, tc.action)
		if got != tc.want {
			t.Errorf("JobName(%q, %q) = %q, want %q", tc.kind, tc.action, got, tc.want)
		}
		if len(got) > 63 || !dnsLabel.MatchString(strings.ReplaceAll(got, ".", "-")) {
			t.Errorf("JobName %q is not usable as a Job and label name", got)
		}
	}
}

func TestBuild(t *testing.T) {
	job := testJob(t)
	for _, tc := range []struct {
		name  string
		cfg   Config
		check func(t *testing.T, b *built)
	}{
		{"hostpath", Config{Image: "reg/img@sha256:1", GPUs: 2, Memory: "1Gi"}, func(t *testing.T, b *built) {
			pod := b.Job.Spec.Template.Spec
			c := pod.Containers[0]
			if got := strings.Join(c.Args, " "); got != "trainer run "+container.SpecPath {
				t.Errorf("args %q", got)
			}
			if q := c.Resources.Limits["nvidia.com/gpu"]; q.String() != "2" {
				t.Errorf("gpu limit %v", q)
			}
			if q := c.Resources.Limits[corev1.ResourceMemory]; q.String() != "1Gi" {
				t.Errorf("memory limit %v", q)
			}
			mounts := map[string]corev1.VolumeMount{}
			for _, m := range c.VolumeMounts {
				mounts[m.MountPath] = m
			}
			if m := mounts[container.OutputPath]; m.ReadOnly || m.Name == "" {
				t.Errorf("output mount %+v", m)
			}
			if m := mounts[container.ModelPath]; !m.ReadOnly {
				t.Errorf("model mount %+v", m)
			}
			if m := mounts[container.SpecPath]; m.SubPath != specFile {
				t.Errorf("spec mount %+v", m)
			}
			if b.Spec.Model.Dir != container.ModelPath || b.Spec.OutputDir != container.OutputPath {
				t.Errorf("pod-side spec %+v", b.Spec)
			}
			if !strings.Contains(b.ConfigMap.Data[specFile], `"output_dir": "/job/out"`) {
				t.Errorf("configmap spec %s", b.ConfigMap.Data[specFile])
			}
		}},
		{"claim", Config{Image: "img", Volume: Volume{Claim: "cache", MountPath: filepath.Dir(job.OutputDir)}}, func(t *testing.T, b *built) {
			pod := b.Job.Spec.Template.Spec
			if pod.Volumes[0].PersistentVolumeClaim == nil || pod.Volumes[0].PersistentVolumeClaim.ClaimName != "cache" {
				t.Errorf("volumes %+v", pod.Volumes)
			}
			if b.Spec.OutputDir != job.OutputDir || b.Spec.Data[0] != job.Data[0] {
				t.Errorf("claim mode keeps the paths: %+v", b.Spec)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if err := cfg.check(); err != nil {
				t.Fatal(err)
			}
			b := &Backend{cfg: cfg}
			bt, err := b.build(job, "eval/mini/base-20/s42/mmlu", "abc123")
			if err != nil {
				t.Fatal(err)
			}
			j := bt.Job
			if j.Labels[LabelStage] != "eval.mini.base-20.s42.mmlu" || j.Annotations[AnnotationAction] != "abc123" || j.Annotations[AnnotationStage] != "eval/mini/base-20/s42/mmlu" {
				t.Errorf("labels %v annotations %v", j.Labels, j.Annotations)
			}
			if *j.Spec.BackoffLimit != 0 || j.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
				t.Errorf("a failed pod must fail the Job once (the runner retries)")
			}
			again, _ := b.build(job, "eval/mini/base-20/s42/mmlu", "abc123")
			if again.Hash != bt.Hash {
				t.Errorf("the spec hash is not deterministic")
			}
			cfg.Image += "x"
			other, _ := (&Backend{cfg: cfg}).build(job, "eval/mini/base-20/s42/mmlu", "abc123")
			if other.Hash == bt.Hash {
				t.Errorf("another image gives the same spec hash: a stale Job would be re-attached")
			}
			tc.check(t, bt)
		})
	}
}

func TestClaimOutside(t *testing.T) {
	job := testJob(t)
	b := &Backend{cfg: Config{Image: "img", Volume: Volume{Claim: "c", MountPath: t.TempDir()}}}
	b.cfg.check()
	if _, err := b.build(job, "s", "a"); err == nil || !strings.Contains(err.Error(), "outside the cache volume") {
		t.Errorf("got %v", err)
	}
}

func TestConfigCheck(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Image: "i", Namespace: "Bad_NS"}, "not a DNS label"},
		{Config{}, "no image"},
		{Config{Image: "i", Memory: "lots"}, "not a Kubernetes quantity"},
		{Config{Image: "i", Volume: Volume{Claim: "c"}}, "needs the path"},
	} {
		err := tc.cfg.check()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
