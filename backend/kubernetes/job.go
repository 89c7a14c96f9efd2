package kubernetes

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/crossin-lab/crossin/backend/container"
	"github.com/crossin-lab/crossin/trainer"
)

// Identity names the stage a job belongs to. The runner's StageContext
// provides it (as the trainer.Progress given to Run); without it the
// output directory stands in for the action.
type Identity interface {
	StageName() string
	ActionID() string
}

// specFile is the ConfigMap key of the container-side job spec; it is
// mounted (subPath) at container.SpecPath.
const specFile = "spec.json"

// identity returns the stage name and action ID of a job.
func identity(job *trainer.JobSpec, progress trainer.Progress) (stage, action string) {
	if id, ok := progress.(Identity); ok && id.ActionID() != "" {
		return id.StageName(), strings.TrimPrefix(id.ActionID(), "sha256:")
	}
	h := sha256.Sum256([]byte(filepath.Clean(job.OutputDir)))
	return job.Kind, hex.EncodeToString(h[:])
}

// JobName is the name of the Job (and ConfigMap) of an action: one name per
// action is what makes a re-run find the Job of an earlier one.
func JobName(kind, action string) string {
	a := strings.TrimPrefix(action, "sha256:")
	if len(a) > 40 {
		a = a[:40]
	}
	return "crossin-" + labelSafe(kind, 10) + "-" + strings.ToLower(a)
}

// labelSafe maps s to a valid label value of at most n characters.
func labelSafe(s string, n int) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('.')
		}
	}
	out := b.String()
	if len(out) > n {
		out = out[:n]
	}
	return strings.Trim(out, "-_.")
}

// built is a job translated for Kubernetes.
type built struct {
	Job       *batchv1.Job
	ConfigMap *corev1.ConfigMap
	Spec      *trainer.JobSpec // as the pod sees it
	Hash      string           // AnnotationSpec
}

// build translates job into a Job and its ConfigMap.
func (b *Backend) build(job *trainer.JobSpec, stage, action string) (*built, error) {
	return b.buildRemote(job, stage, action, nil, nil)
}

// buildRemote is build; in the remote mode, rs is the container-side spec
// and in the inputs pushInputs shipped.
func (b *Backend) buildRemote(job *trainer.JobSpec, stage, action string, rs *trainer.JobSpec, in []remoteInput) (*built, error) {
	name := JobName(job.Kind, action)
	var (
		cs      *trainer.JobSpec
		vols    []corev1.Volume
		mounts  []corev1.VolumeMount
		secCtx  *corev1.PodSecurityContext
		workDir = container.JobRoot
		command []string
		env     = []corev1.EnvVar{{Name: "HOME", Value: "/tmp"}}
	)
	args := append(append([]string(nil), b.cfg.Command...), container.SpecPath)
	if b.cfg.Remote.Repository != "" {
		if rs == nil {
			return nil, errors.New("kubernetes: remote mode without its inputs")
		}
		var renv []corev1.EnvVar
		cs = rs
		vols, mounts, command, args, renv = b.remotePod(in, action)
		env = append(env, renv...)
	} else if b.cfg.Volume.Claim == "" {
		c, ms, err := container.MapJob(job)
		if err != nil {
			return nil, err
		}
		cs = c
		for i, m := range ms {
			typ := corev1.HostPathDirectory
			if !m.ReadOnly {
				typ = corev1.HostPathDirectoryOrCreate
			} else if fi, err := os.Stat(m.Host); err == nil && !fi.IsDir() {
				typ = corev1.HostPathFile
			}
			vn := "in-" + strconv.Itoa(i)
			if !m.ReadOnly {
				vn = "out"
			}
			vols = append(vols, corev1.Volume{Name: vn, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: m.Host, Type: &typ}}})
			mounts = append(mounts, corev1.VolumeMount{Name: vn, MountPath: m.Container, ReadOnly: m.ReadOnly})
		}
		if uid := os.Getuid(); uid != 0 && b.cfg.RunAsUser == nil {
			u, g := int64(uid), int64(os.Getgid())
			secCtx = &corev1.PodSecurityContext{RunAsUser: &u, RunAsGroup: &g}
		}
	} else {
		c, err := b.onClaim(job)
		if err != nil {
			return nil, err
		}
		cs = c
		vols = append(vols, corev1.Volume{Name: "cache", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: b.cfg.Volume.Claim}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "cache", MountPath: b.cfg.Volume.MountPath})
	}
	if b.cfg.RunAsUser != nil || b.cfg.RunAsGroup != nil {
		secCtx = &corev1.PodSecurityContext{RunAsUser: b.cfg.RunAsUser, RunAsGroup: b.cfg.RunAsGroup}
	}
	specJSON, err := json.MarshalIndent(cs, "", "  ")
	if err != nil {
		return nil, err
	}
	vols = append(vols, corev1.Volume{Name: "spec", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}}})
	mounts = append([]corev1.VolumeMount{{Name: "spec", MountPath: container.SpecPath, SubPath: specFile, ReadOnly: true}}, mounts...)

	if job.Threads > 0 {
		env = append(env, corev1.EnvVar{Name: "GOMAXPROCS", Value: strconv.Itoa(job.Threads)})
	}
	res := corev1.ResourceRequirements{}
	setRes := func(n corev1.ResourceName, q string) {
		if q == "" {
			return
		}
		if res.Limits == nil {
			res.Limits, res.Requests = corev1.ResourceList{}, corev1.ResourceList{}
		}
		v := resource.MustParse(q)
		res.Limits[n], res.Requests[n] = v, v
	}
	setRes(corev1.ResourceCPU, b.cfg.CPU)
	setRes(corev1.ResourceMemory, b.cfg.Memory)
	if b.cfg.GPUs > 0 {
		setRes("nvidia.com/gpu", strconv.Itoa(b.cfg.GPUs))
	}
	labels := map[string]string{LabelManagedBy: managedBy, LabelStage: labelSafe(stage, 63), LabelJob: name}
	annotations := map[string]string{AnnotationAction: action, AnnotationStage: stage}
	zero, grace, ttl := int32(0), int64(10), int32(3600)
	no := false
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: b.cfg.Namespace, Labels: labels, Annotations: annotations},
		Spec: batchv1.JobSpec{
			// The runner retries a failed stage itself (--retries), with
			// the attempt in the stage log; one pod per attempt here.
			BackoffLimit: &zero,
			// A safety net for a crossin killed after its Job finished;
			// crossin deletes the Jobs it follows to the end.
			TTLSecondsAfterFinished: &ttl,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
				Spec: corev1.PodSpec{
					RestartPolicy:                 corev1.RestartPolicyNever,
					TerminationGracePeriodSeconds: &grace,
					ServiceAccountName:            b.cfg.ServiceAccount,
					AutomountServiceAccountToken:  &no,
					EnableServiceLinks:            &no,
					PriorityClassName:             b.cfg.PriorityClass,
					NodeSelector:                  b.cfg.NodeSelector,
					Tolerations:                   b.cfg.Tolerations,
					SecurityContext:               secCtx,
					Volumes:                       vols,
					Containers: []corev1.Container{{
						Name:            "trainer",
						Image:           b.cfg.Image,
						ImagePullPolicy: b.cfg.PullPolicy,
						Command:         command,
						Args:            args,
						WorkingDir:      workDir,
						Env:             env,
						Resources:       res,
						VolumeMounts:    mounts,
						// the manifest is the result; the message is the
						// log's tail, for the error line
						TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
					}},
				},
			},
		},
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: b.cfg.Namespace, Labels: labels, Annotations: annotations},
		Data:       map[string]string{specFile: string(specJSON) + "\n"},
	}
	h := sha256.New()
	enc := json.NewEncoder(h)
	enc.Encode(j.Spec)
	enc.Encode(cm.Data)
	hash := hex.EncodeToString(h.Sum(nil))
	j.Annotations[AnnotationSpec] = hash
	cm.Annotations = j.Annotations
	return &built{Job: j, ConfigMap: cm, Spec: cs, Hash: hash}, nil
}

// onClaim checks that the job's paths lie on the cache volume (copying
// input files that do not into MountPath/k8s-inputs, by content) and
// returns the spec the pod reads: the same paths, the volume being mounted
// where crossin sees it.
func (b *Backend) onClaim(job *trainer.JobSpec) (*trainer.JobSpec, error) {
	root := filepath.Clean(b.cfg.Volume.MountPath)
	under := func(p string) bool {
		rel, err := filepath.Rel(root, filepath.Clean(p))
		return err == nil && filepath.IsLocal(rel)
	}
	c := *job
	c.Data = append([]string(nil), job.Data...)
	for i, d := range c.Data {
		if under(d) {
			continue
		}
		staged, err := stageInput(root, d)
		if err != nil {
			return nil, fmt.Errorf("kubernetes: data[%d] %s is outside the cache volume %s and could not be copied onto it: %w", i, d, root, err)
		}
		c.Data[i] = staged
	}
	for what, p := range map[string]string{"model.dir": job.Model.Dir, "adapter": job.Adapter, "output_dir": job.OutputDir} {
		if p != "" && !under(p) {
			return nil, fmt.Errorf("kubernetes: %s %s is outside the cache volume mounted at %s; put the cache on the volume (--cache %s/...)", what, p, root, root)
		}
	}
	return &c, nil
}

// stageInput copies file p to root/k8s-inputs/<sha256>/<name> (once).
func stageInput(root, p string) (string, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	if fi.IsDir() {
		return "", fmt.Errorf("a directory")
	}
	sum, err := trainer.FileSHA256(p)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "k8s-inputs", strings.TrimPrefix(sum, "sha256:"))
	dst := filepath.Join(dir, filepath.Base(p))
	if got, err := trainer.FileSHA256(dst); err == nil && got == sum {
		return dst, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	in, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(dir, ".tmp-")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", err
	}
	return dst, os.Rename(tmp.Name(), dst)
}
