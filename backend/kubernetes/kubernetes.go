// Package kubernetes runs trainer jobs as Kubernetes Jobs, through
// client-go's typed clients.
//
// Each train or eval stage becomes one Job running the pinned trainer image
// as `IMAGE trainer run /job/spec.json`, the container-side job spec held in
// a ConfigMap that the Job owns (so the garbage collector removes it with
// the Job). The Job's name is derived from the stage's action ID, which it
// also carries as an annotation (the stage name is a label): a crossin that
// was killed (-9) leaves its Job running, and the next run with the same
// action re-attaches to it instead of starting a second one, while a Job
// left in a final state, or built from a different spec, is deleted with
// its pods first. Jobs are followed with watches on the Job and its pods;
// cancelling the context deletes the Job and waits until its pods are gone.
//
// Failures are reported in one line each: image pull errors, OOMKilled,
// a pod that stays unschedulable past Config.ScheduleTimeout (a GPU request
// no node can satisfy), BackoffLimitExceeded with the container's exit code
// and log tail, a missing namespace and missing RBAC permissions (the last
// two already in Preflight).
//
// Pods reach a job's inputs and return its outputs through the filesystem
// (Volume): hostPath mounts of each input and of the output directory at
// the container backend's paths (single-node clusters, or crossin running
// on the node), or a PersistentVolumeClaim holding the cache, mounted at
// the cache's own path on both sides; or, without a shared filesystem,
// through an OCI registry (Remote, remote.go).
package kubernetes

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/crossin-lab/crossin/oci"
	"github.com/crossin-lab/crossin/trainer"
)

// Labels and annotations crossin puts on its Jobs and pods.
const (
	LabelManagedBy   = "app.kubernetes.io/managed-by" // "crossin"
	LabelStage       = "crossin.dev/stage"            // the stage name, label-safe
	LabelJob         = "crossin.dev/job"              // the Job's name, on its pods
	AnnotationAction = "crossin.dev/action"           // the stage's full action ID
	AnnotationStage  = "crossin.dev/stage"            // the stage name as written
	AnnotationSpec   = "crossin.dev/spec"             // sha256 of the Job and ConfigMap crossin built
	managedBy        = "crossin"
)

// Config configures a Backend.
type Config struct {
	Namespace string // default "default"
	Image     string // trainer image, pinned by digest
	// Command replaces the arguments given to the image before the spec
	// path (nil: "trainer", "run", for the crossin image; empty: none, for
	// the GPU trainer image whose entrypoint takes the spec path alone).
	Command []string
	// GPUs requested per pod as nvidia.com/gpu (0: none).
	GPUs int
	// CPU and Memory are the container's requests and limits (Kubernetes
	// quantities, e.g. "2", "500m", "8Gi"); empty: none.
	CPU, Memory    string
	NodeSelector   map[string]string
	Tolerations    []corev1.Toleration
	ServiceAccount string
	PriorityClass  string
	PullPolicy     corev1.PullPolicy // default IfNotPresent (images are pinned by digest)
	Volume         Volume
	// Remote, if its Repository is set, replaces the shared volume: the
	// pods pull their inputs from the registry and push their outputs
	// there (remote.go).
	Remote Remote
	// Entrypoint is the image's entrypoint, which the remote mode runs
	// after fetching the inputs (default oci.ImageBinary, the crossin
	// image's; oci.HFEntrypoint for the GPU trainer image).
	Entrypoint string
	// ScheduleTimeout bounds how long a pod may stay unschedulable, or a
	// Job without pods, before the stage fails (default 10 minutes).
	ScheduleTimeout time.Duration
	// RunAsUser and RunAsGroup, if non-nil, set the pod's user (hostPath
	// mode defaults to the calling user when it is not root, so outputs
	// are not root-owned).
	RunAsUser, RunAsGroup *int64
}

// Volume says how pods see a job's files.
type Volume struct {
	// Claim, if set, is a PersistentVolumeClaim holding the cache, mounted
	// at MountPath in every pod; every path of a job must lie under
	// MountPath as crossin sees it (inputs outside it, such as a benchmark
	// file of the spec, are copied into MountPath/k8s-inputs first).
	// Empty: each input and the output directory are hostPath volumes.
	Claim     string
	MountPath string
	ReadOnly  bool
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func (c *Config) check() error {
	if c.Namespace == "" {
		c.Namespace = "default"
	}
	if !dnsLabel.MatchString(c.Namespace) || len(c.Namespace) > 63 {
		return fmt.Errorf("kubernetes: namespace %q is not a DNS label (lower-case letters, digits, '-')", c.Namespace)
	}
	if c.Image == "" {
		return errors.New("kubernetes: no image")
	}
	if c.Command == nil {
		c.Command = []string{"trainer", "run"}
	}
	if c.GPUs < 0 {
		return fmt.Errorf("kubernetes: gpus %d < 0", c.GPUs)
	}
	for what, q := range map[string]string{"cpu": c.CPU, "memory": c.Memory} {
		if q == "" {
			continue
		}
		if _, err := resource.ParseQuantity(q); err != nil {
			return fmt.Errorf("kubernetes: %s %q is not a Kubernetes quantity (e.g. 2, 500m, 8Gi): %v", what, q, err)
		}
	}
	if c.PullPolicy == "" {
		c.PullPolicy = corev1.PullIfNotPresent
	}
	if c.ScheduleTimeout <= 0 {
		c.ScheduleTimeout = 10 * time.Minute
	}
	if c.Volume.Claim != "" && c.Volume.MountPath == "" {
		return errors.New("kubernetes: a cache volume claim needs the path it is mounted at")
	}
	if c.Remote.Repository != "" && c.Volume.Claim != "" {
		return errors.New("kubernetes: a cache volume claim and a remote repository are two ways of shipping files; choose one")
	}
	if c.Entrypoint == "" {
		c.Entrypoint = oci.ImageBinary
	}
	return nil
}

// Backend runs trainer jobs as Kubernetes Jobs; it implements
// trainer.Trainer.
type Backend struct {
	cfg Config
	cs  k8s.Interface
	oc  *oci.Client // the remote mode's registry client
	log io.Writer
}

var _ trainer.Trainer = (*Backend)(nil)

// New returns a Backend using the clientset cs.
func New(cs k8s.Interface, cfg Config) (*Backend, error) {
	if cs == nil {
		return nil, errors.New("kubernetes: no client")
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	return &Backend{cfg: cfg, cs: cs, oc: oci.NewClient()}, nil
}

// RESTConfig loads the client configuration: the kubeconfig file (or
// $KUBECONFIG, or ~/.kube/config) with the given context (empty: its
// current one), or, when crossin itself runs in a pod and none of those
// exist, the in-cluster service account.
func RESTConfig(kubeconfig, context string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context})
	rc, err := cc.ClientConfig()
	if err == nil {
		return rc, nil
	}
	if kubeconfig == "" && context == "" {
		if ic, ierr := rest.InClusterConfig(); ierr == nil {
			return ic, nil
		}
	}
	return nil, fmt.Errorf("kubernetes: no usable kubeconfig (set KUBECONFIG, or the backend's kubeconfig and context): %w", err)
}

// NewFromConfig connects with rc.
func NewFromConfig(rc *rest.Config, cfg Config) (*Backend, error) {
	rc = rest.CopyConfig(rc)
	rc.UserAgent = "crossin"
	if rc.QPS == 0 {
		rc.QPS, rc.Burst = 50, 100
	}
	cs, err := k8s.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	return New(cs, cfg)
}

// WithLog returns a copy of b that copies the pods' logs to w; the runner
// uses it to keep each stage's pod output in its log.
func (b *Backend) WithLog(w io.Writer) trainer.Trainer {
	c := *b
	c.log = w
	return &c
}

// Image returns the image the backend runs.
func (b *Backend) Image() string { return b.cfg.Image }

// Namespace returns the namespace jobs run in.
func (b *Backend) Namespace() string { return b.cfg.Namespace }
