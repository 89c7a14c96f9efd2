package kubernetes

// The remote mode: no filesystem shared between crossin and the pods. The
// job's inputs (model, adapter, data files) travel as entries of the OCI
// remote cache (oci.PushCache: one layer per file, each verified by its
// digest on pull). The pod's container runs `crossin trainer remote-run`,
// which pulls each input by its pinned digest into an emptyDir, runs the
// trainer, pushes the output directory as one more entry and reports that
// entry's digest as its termination message. crossin then pulls exactly
// that digest into the stage's output directory and checks every file
// against manifest.json, as the shared-volume modes do. Any cluster that
// can reach a registry can run the jobs.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/crossin-lab/crossin/backend/container"
	"github.com/crossin-lab/crossin/oci"
	"github.com/crossin-lab/crossin/trainer"
)

// Remote configures the remote mode (Config.Remote).
type Remote struct {
	// Repository (REGISTRY/REPOSITORY) holds the inputs crossin pushes and
	// the outputs the pods push; both crossin and the pods must reach it.
	Repository string
	// Secret, if set, is a kubernetes.io/dockerconfigjson Secret in the
	// namespace with the pods' registry credentials (crossin uses its own
	// docker config).
	Secret string
}

// outputPrefix starts the termination message of a remote-run pod; the
// pinned reference of the pushed output entry follows.
const outputPrefix = "crossin-output "

// insecureEnv is the oci package's list of plain-HTTP registries; the pods
// get crossin's value, so that they reach the registries crossin does.
const insecureEnv = "CROSSIN_INSECURE_REGISTRIES"

// remoteInput is an input entry and the directory the pod unpacks it in.
type remoteInput struct{ Ref, Dest string }

func inputAction(action, dest string) string {
	return "k8s-input-" + action + "-" + labelSafe(strings.ReplaceAll(strings.TrimPrefix(dest, container.JobRoot+"/"), "/", "."), 40)
}

func outputAction(action string) string { return "k8s-output-" + action }

// pushInputs pushes the inputs of job as remote cache entries and returns
// them, with the container-side spec: the paths the container backend
// uses, under an emptyDir at container.JobRoot.
func (b *Backend) pushInputs(ctx context.Context, job *trainer.JobSpec, action string) (*trainer.JobSpec, []remoteInput, error) {
	cs, mounts, err := container.MapJob(job)
	if err != nil {
		return nil, nil, err
	}
	var in []remoteInput
	for _, m := range mounts {
		if !m.ReadOnly {
			continue
		}
		dest := m.Container
		if fi, err := os.Stat(m.Host); err == nil && !fi.IsDir() {
			// a file's entry holds it under its base name, which
			// MapJob keeps: unpack it in the parent
			dest = path.Dir(m.Container)
		}
		ref, err := b.oc.PushCache(ctx, b.cfg.Remote.Repository, inputAction(action, dest), m.Host, map[string]string{"kubernetes": "input", "path": dest})
		if err != nil {
			return nil, nil, fmt.Errorf("kubernetes: shipping %s to the pods: %w", m.Host, err)
		}
		in = append(in, remoteInput{Ref: ref, Dest: dest})
	}
	// What the output directory already holds goes too: the runner's
	// tokenized inputs (which trainers see, and list in their manifest,
	// in the other modes as well) and the checkpoints of an interrupted
	// attempt, to resume from.
	if hasFiles(job.OutputDir) {
		ref, err := b.oc.PushCache(ctx, b.cfg.Remote.Repository, inputAction(action, container.OutputPath), job.OutputDir, map[string]string{"kubernetes": "input", "path": container.OutputPath})
		if err != nil {
			return nil, nil, fmt.Errorf("kubernetes: shipping %s to the pods: %w", job.OutputDir, err)
		}
		in = append(in, remoteInput{Ref: ref, Dest: container.OutputPath})
	}
	return cs, in, nil
}

// hasFiles reports whether the tree at dir holds a regular file.
func hasFiles(dir string) bool {
	found := errors.New("found")
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			return found
		}
		return err
	})
	return err == found
}

// remotePod is the pod side of a remote-mode Job: its volumes, mounts,
// command and arguments, and environment.
func (b *Backend) remotePod(in []remoteInput, action string) (vols []corev1.Volume, mounts []corev1.VolumeMount, command, args []string, env []corev1.EnvVar) {
	vols = []corev1.Volume{{Name: "job", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	mounts = []corev1.VolumeMount{{Name: "job", MountPath: container.JobRoot}}
	command = []string{oci.ImageBinary}
	args = []string{"trainer", "remote-run", "--repository", b.cfg.Remote.Repository, "--action", outputAction(action), "--output", container.OutputPath}
	for _, i := range in {
		args = append(args, "--input", i.Ref+"="+i.Dest)
	}
	args = append(append(append(args, "--", b.cfg.Entrypoint), b.cfg.Command...), container.SpecPath)
	if v := os.Getenv(insecureEnv); v != "" {
		env = append(env, corev1.EnvVar{Name: insecureEnv, Value: v})
	}
	if s := b.cfg.Remote.Secret; s != "" {
		const dir = "/crossin-registry-auth"
		vols = append(vols, corev1.Volume{Name: "registry-auth", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: s, Items: []corev1.KeyToPath{{Key: corev1.DockerConfigJsonKey, Path: "config.json"}},
		}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "registry-auth", MountPath: dir, ReadOnly: true})
		env = append(env, corev1.EnvVar{Name: "DOCKER_CONFIG", Value: dir})
	}
	return vols, mounts, command, args, env
}

// fetchOutputs pulls the output entry the Job's pod reported into
// job.OutputDir, by its digest.
func (b *Backend) fetchOutputs(ctx context.Context, job *trainer.JobSpec, name string, uid types.UID, term *corev1.ContainerStateTerminated, action string) error {
	ref, ok := "", false
	if term != nil {
		ref, ok = strings.CutPrefix(strings.TrimSpace(term.Message), outputPrefix)
	}
	if !ok {
		// the pod's last status may not have reached the watch yet
		pl, err := b.cs.CoreV1().Pods(b.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: batchv1.ControllerUidLabel + "=" + string(uid)})
		if err != nil {
			return b.apiError("list", "pods", err)
		}
		for _, p := range pl.Items {
			for _, s := range p.Status.ContainerStatuses {
				if t := s.State.Terminated; t != nil && t.ExitCode == 0 {
					if r, ok := strings.CutPrefix(strings.TrimSpace(t.Message), outputPrefix); ok {
						ref = r
					}
				}
			}
		}
	}
	if ref == "" {
		return fmt.Errorf("kubernetes job %s/%s completed but its pod reported no output entry (want a termination message %q)", b.cfg.Namespace, name, outputPrefix+"REF")
	}
	tmp := job.OutputDir + ".remote"
	os.RemoveAll(tmp)
	e, err := b.oc.PullCacheRef(ctx, ref, tmp)
	if err != nil {
		return fmt.Errorf("kubernetes job %s/%s: fetching its outputs: %w", b.cfg.Namespace, name, err)
	}
	defer os.RemoveAll(tmp)
	if e.ActionID != outputAction(action) {
		return fmt.Errorf("kubernetes job %s/%s: its output entry %s is for %q, not %q", b.cfg.Namespace, name, ref, e.ActionID, outputAction(action))
	}
	if err := os.RemoveAll(job.OutputDir); err != nil {
		return err
	}
	b.logf("== kubernetes: outputs %s\n", ref)
	return os.Rename(tmp, job.OutputDir)
}

// RemoteRun is the pod side of the remote mode (`crossin trainer
// remote-run`): pull the inputs, run the trainer, push the outputs.
type RemoteRun struct {
	Repository string   // where the output entry goes
	Action     string   // its action ID
	Inputs     []string // REF=DIR: entries pinned by digest, unpacked in DIR
	OutputDir  string   // the trainer's output directory
	Command    []string // the trainer command
	// TerminationLog receives outputPrefix and the output entry's pinned
	// reference (Kubernetes: /dev/termination-log).
	TerminationLog string
	Stdout, Stderr io.Writer
}

// Run does it. The trainer gets SIGTERM when ctx ends (pod deletion).
func (r *RemoteRun) Run(ctx context.Context) error {
	if r.Repository == "" || r.Action == "" || r.OutputDir == "" || len(r.Command) == 0 {
		return errors.New("remote-run: needs --repository, --action, --output and a trainer command")
	}
	oc := oci.NewClient()
	for _, in := range r.Inputs {
		ref, dir, ok := strings.Cut(in, "=")
		if !ok || ref == "" || !filepath.IsAbs(dir) {
			return fmt.Errorf("remote-run: --input %q: want REF@sha256:...=/ABSOLUTE/DIR", in)
		}
		t0 := time.Now()
		e, err := oc.PullCacheRef(ctx, ref, dir)
		if err != nil {
			return fmt.Errorf("remote-run: input %s: %w", dir, err)
		}
		fmt.Fprintf(r.Stderr, "remote-run: pulled %s (%d files) into %s in %.1fs\n", ref, len(e.Files), dir, time.Since(t0).Seconds())
	}
	if err := os.MkdirAll(r.OutputDir, 0o755); err != nil {
		return err
	}
	cmd := exec.Command(r.Command[0], r.Command[1:]...)
	cmd.Stdout, cmd.Stderr = r.Stdout, r.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("remote-run: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		// the pod is being deleted: the trainer stops too
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		return fmt.Errorf("remote-run: %w", ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("remote-run: trainer %s: %w", r.Command[0], err)
	}
	t0 := time.Now()
	ref, err := oc.PushCache(ctx, r.Repository, r.Action, r.OutputDir, map[string]string{"kubernetes": "output"})
	if err != nil {
		return fmt.Errorf("remote-run: pushing the outputs: %w", err)
	}
	fmt.Fprintf(r.Stderr, "remote-run: pushed the outputs as %s in %.1fs\n", ref, time.Since(t0).Seconds())
	if r.TerminationLog != "" {
		if err := os.WriteFile(r.TerminationLog, []byte(outputPrefix+ref+"\n"), 0o644); err != nil {
			return fmt.Errorf("remote-run: %w", err)
		}
	}
	return nil
}
