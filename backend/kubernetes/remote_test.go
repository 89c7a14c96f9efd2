package kubernetes

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	corev1 "k8s.io/api/core/v1"

	"github.com/crossin-lab/crossin/backend/container"
	"github.com/crossin-lab/crossin/oci"
	"github.com/crossin-lab/crossin/trainer"
)

// TestRemoteRoundTrip plays the remote mode end to end without a cluster:
// crossin ships the inputs to a registry, the Job's arguments name them by
// digest, the pod side (RemoteRun, here with a shell script as the
// trainer) pulls them, runs, pushes its outputs and reports them, and
// crossin fetches exactly that entry into the output directory. The real
// cluster runs it in e2e_test.go.
func TestRemoteRoundTrip(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	repo := strings.TrimPrefix(srv.URL, "http://") + "/lab/jobs"
	ctx := context.Background()

	job := testJob(t)
	os.WriteFile(filepath.Join(job.Model.Dir, "config.json"), []byte(`{"model_type":"llama"}`), 0o644)
	b := &Backend{cfg: Config{Namespace: testNS, Image: "reg/img@sha256:" + strings.Repeat("1", 64), Remote: Remote{Repository: repo, Secret: "regcred"}}, oc: oci.NewClient()}
	if err := b.cfg.check(); err != nil {
		t.Fatal(err)
	}
	// what the output directory already holds (the runner's tokenized
	// inputs, checkpoints) travels too
	os.MkdirAll(filepath.Join(job.OutputDir, "inputs"), 0o755)
	os.WriteFile(filepath.Join(job.OutputDir, "inputs", "x.jsonl"), []byte("{}\n"), 0o644)
	rs, in, err := b.pushInputs(ctx, job, testID.action)
	if err != nil {
		t.Fatal(err)
	}
	if len(in) != 3 || in[0].Dest != container.ModelPath || in[1].Dest != container.DataRoot+"/0" || in[2].Dest != container.OutputPath {
		t.Fatalf("inputs = %+v", in)
	}
	if rs.Model.Dir != container.ModelPath || rs.Data[0] != container.DataRoot+"/0/bench.jsonl" || rs.OutputDir != container.OutputPath {
		t.Fatalf("container-side spec = %+v", rs)
	}
	// the same inputs give the same digests, hence the same Job (re-attach)
	_, again, err := b.pushInputs(ctx, job, testID.action)
	if err != nil || !slices.Equal(in, again) {
		t.Fatalf("inputs pushed twice differ: %v %v (%v)", in, again, err)
	}

	bt, err := b.buildRemote(job, testID.stage, testID.action, rs, in)
	if err != nil {
		t.Fatal(err)
	}
	pod := bt.Job.Spec.Template.Spec
	c := pod.Containers[0]
	if !slices.Equal(c.Command, []string{oci.ImageBinary}) || c.Args[0] != "trainer" || c.Args[1] != "remote-run" {
		t.Fatalf("command %v args %v", c.Command, c.Args)
	}
	sep := slices.Index(c.Args, "--")
	if sep < 0 || !slices.Equal(c.Args[sep+1:], []string{oci.ImageBinary, "trainer", "run", container.SpecPath}) {
		t.Fatalf("trainer command in %v", c.Args)
	}
	for _, i := range in {
		if !slices.Contains(c.Args, i.Ref+"="+i.Dest) {
			t.Errorf("args %v lack input %s", c.Args, i.Ref)
		}
	}
	var hasEmpty, hasSecret bool
	for _, v := range pod.Volumes {
		if v.HostPath != nil || v.PersistentVolumeClaim != nil {
			t.Errorf("remote mode mounts %s from the node", v.Name)
		}
		hasEmpty = hasEmpty || v.EmptyDir != nil
		hasSecret = hasSecret || v.Secret != nil && v.Secret.SecretName == "regcred" && v.Secret.Items[0].Key == corev1.DockerConfigJsonKey
	}
	if !hasEmpty || !hasSecret {
		t.Errorf("volumes %+v: want an emptyDir and the registry secret", pod.Volumes)
	}
	if !strings.Contains(bt.ConfigMap.Data[specFile], `"output_dir": "/job/out"`) {
		t.Errorf("spec in the ConfigMap:\n%s", bt.ConfigMap.Data[specFile])
	}

	// the pod's side, under a temporary root standing for the container's /
	root := t.TempDir()
	inputs := []string{}
	for _, i := range in {
		inputs = append(inputs, i.Ref+"="+root+i.Dest)
	}
	out := root + container.OutputPath
	term := filepath.Join(root, "termination-log")
	script := `set -e; cp "$1/job/model/config.json" "$1/job/out/"; cp "$1/job/data/0/bench.jsonl" "$1/job/out/"; ` +
		`printf '{"contract":"` + trainer.Contract + `","kind":"eval","trainer":"sh","files":{"config.json":"%s","bench.jsonl":"%s"}}' ` +
		`"sha256:$(sha256sum "$1/job/out/config.json" | cut -d" " -f1)" "sha256:$(sha256sum "$1/job/out/bench.jsonl" | cut -d" " -f1)" > "$1/job/out/manifest.json"`
	rr := &RemoteRun{Repository: repo, Action: outputAction(testID.action), Inputs: inputs, OutputDir: out,
		Command: []string{"sh", "-c", script, "sh", root}, TerminationLog: term, Stdout: io.Discard, Stderr: io.Discard}
	if err := rr.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "inputs", "x.jsonl")); err != nil {
		t.Errorf("the output directory's earlier contents did not reach the pod: %v", err)
	}
	msg, err := os.ReadFile(term)
	if err != nil || !strings.HasPrefix(string(msg), outputPrefix+repo+"@sha256:") {
		t.Fatalf("termination log %q (%v)", msg, err)
	}

	// crossin's side: the reported entry lands in the output directory
	if err := b.fetchOutputs(ctx, job, bt.Job.Name, "uid", &corev1.ContainerStateTerminated{Message: string(msg)}, testID.action); err != nil {
		t.Fatal(err)
	}
	m, err := container.ReadManifest(job)
	if err != nil || len(m.Files) != 2 {
		t.Fatalf("manifest after fetch: %+v, %v", m, err)
	}
	// an entry of another action (here an input's) is refused
	os.RemoveAll(job.OutputDir)
	err = b.fetchOutputs(ctx, job, bt.Job.Name, "uid", &corev1.ContainerStateTerminated{Message: outputPrefix + in[0].Ref}, testID.action)
	if err == nil || !strings.Contains(err.Error(), "is for") {
		t.Fatalf("fetching another action's entry: %v", err)
	}
	// a failing trainer pushes nothing
	rr.Command, rr.Inputs, rr.OutputDir = []string{"false"}, nil, filepath.Join(t.TempDir(), "out")
	os.Remove(term)
	if err := rr.Run(ctx); err == nil || !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("failing trainer: %v", err)
	}
	if _, err := os.Stat(term); err == nil {
		t.Fatal("a failed trainer reported outputs")
	}
}
