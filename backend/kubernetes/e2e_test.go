package kubernetes_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/crossin-lab/crossin/backend/container"
	"github.com/crossin-lab/crossin/backend/container/containertest"
	"github.com/crossin-lab/crossin/backend/kubernetes"
	"github.com/crossin-lab/crossin/backend/slurm"
	"github.com/crossin-lab/crossin/internal/syncbuf"
	"github.com/crossin-lab/crossin/oci"
	"github.com/crossin-lab/crossin/runner"
	"github.com/crossin-lab/crossin/runner/cache"
	"github.com/crossin-lab/crossin/schema"
	"github.com/crossin-lab/crossin/trainer"
	"github.com/crossin-lab/crossin/trainer/embedded"
)

// cluster is the test cluster .ci/k8s.sh started.
type cluster struct {
	kubeconfig, registry string
	cs                   k8s.Interface
}

// testCluster returns the cluster of .ci/k8s.env (or the environment it
// exports). Without one the test skips, unless CROSSIN_REQUIRE_K8S=1 (CI),
// where it fails.
func testCluster(t *testing.T) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	env := map[string]string{}
	for _, k := range []string{"CROSSIN_TEST_K8S_KUBECONFIG", "CROSSIN_TEST_K8S_REGISTRY"} {
		env[k] = os.Getenv(k)
	}
	if env["CROSSIN_TEST_K8S_KUBECONFIG"] == "" {
		if f, err := os.Open(filepath.Join(repoRoot(), ".ci", "k8s.env")); err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				k, v, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export "), "=")
				if ok {
					env[k] = v
				}
			}
			f.Close()
		}
	}
	if env["CROSSIN_TEST_K8S_KUBECONFIG"] == "" || env["CROSSIN_TEST_K8S_REGISTRY"] == "" {
		msg := "integration test: no test cluster (run .ci/k8s.sh up, which writes .ci/k8s.env)"
		if os.Getenv("CROSSIN_REQUIRE_K8S") == "1" {
			t.Fatal(msg + "; CROSSIN_REQUIRE_K8S=1 does not allow the skip")
		}
		t.Skip(msg)
	}
	rc, err := kubernetes.RESTConfig(env["CROSSIN_TEST_K8S_KUBECONFIG"], "")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := k8s.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{kubeconfig: env["CROSSIN_TEST_K8S_KUBECONFIG"], registry: env["CROSSIN_TEST_K8S_REGISTRY"], cs: cs}
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// namespace creates a fresh namespace for one test (deleted afterwards)
// and waits for its default service account, without which pods are
// refused.
func (c *cluster) namespace(t *testing.T) string {
	t.Helper()
	var b [4]byte
	rand.Read(b[:])
	ns := "crossin-test-" + hex.EncodeToString(b[:])
	ctx := context.Background()
	if _, err := c.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	for end := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if _, err := c.cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			return ns
		} else if time.Now().After(end) {
			t.Fatalf("namespace %s: no default service account after a minute: %v", ns, err)
		}
	}
}

// leftovers lists crossin's Jobs and pods in ns.
func (c *cluster) leftovers(t *testing.T, ns string) []string {
	t.Helper()
	sel := metav1.ListOptions{LabelSelector: kubernetes.LabelManagedBy + "=crossin"}
	var out []string
	jobs, err := c.cs.BatchV1().Jobs(ns).List(context.Background(), sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs.Items {
		out = append(out, "job/"+j.Name)
	}
	pods, err := c.cs.CoreV1().Pods(ns).List(context.Background(), sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		out = append(out, "pod/"+p.Name+" ("+string(p.Status.Phase)+")")
	}
	return out
}

// noLeftovers waits (the garbage collector removes a deleted Job's pods
// shortly after) until crossin left no Job or pod in ns.
func (c *cluster) noLeftovers(t *testing.T, ns string) {
	t.Helper()
	var left []string
	for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		if left = c.leftovers(t, ns); len(left) == 0 {
			return
		}
	}
	t.Errorf("left behind in %s: %s", ns, strings.Join(left, ", "))
}

var (
	imageOnce sync.Once
	imageIdx  v1.ImageIndex
	imageErr  error
	imageMu   sync.Mutex
	images    = map[string]string{} // registry -> pinned reference
)

// crossinImage builds the crossin image from this source tree for the host
// platform and pushes it to the cluster's registry (once per test binary).
func (c *cluster) crossinImage(t *testing.T) string {
	return c.crossinImageAt(t, c.registry)
}

// crossinImageAt is crossinImage pushed to registry reg (the same image,
// the same digest).
func (c *cluster) crossinImageAt(t *testing.T, reg string) string {
	t.Helper()
	imageOnce.Do(func() {
		ctx := context.Background()
		dir, err := os.MkdirTemp("", "crossin-k8s-image-")
		if err != nil {
			imageErr = err
			return
		}
		defer os.RemoveAll(dir)
		bins, err := oci.CrossCompile(ctx, repoRoot(), dir, []v1.Platform{{OS: "linux", Architecture: runtime.GOARCH}}, "")
		if err != nil {
			imageErr = err
			return
		}
		imageIdx, imageErr = oci.BuildIndex(bins)
	})
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	imageMu.Lock()
	defer imageMu.Unlock()
	if images[reg] == "" {
		ref, err := oci.NewClient().PushIndex(context.Background(), reg+"/crossin-test/crossin:k8s", imageIdx)
		if err != nil {
			t.Fatal(err)
		}
		images[reg] = ref
	}
	return images[reg]
}

// miniSpec lays out the runner's miniature grid (runner/testdata/mini) in
// a temporary directory, with extra CUE appended in a second file, and
// returns the spec directory.
func miniSpec(t *testing.T, extra string) string {
	return miniSpecSteps(t, extra, 0)
}

// killSteps are the optimiser steps of TestKillAndRerun's train stages: with
// its CPU limit, enough for a train Job to run for several seconds, so
// that the kill lands while it runs and it still runs when the re-run
// starts.
const killSteps = 200

// miniSpecSteps is miniSpec with steps optimiser steps per train stage
// (0: the miniature's own).
func miniSpecSteps(t *testing.T, extra string, steps int) string {
	t.Helper()
	dir := t.TempDir()
	spec := filepath.Join(dir, "a", "b", "spec")
	if err := os.MkdirAll(spec, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(repoRoot(), "experiments"), filepath.Join(dir, "experiments")); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(repoRoot(), "runner", "testdata", "mini", "mini.cue"))
	if err != nil {
		t.Fatal(err)
	}
	if steps > 0 {
		if !bytes.Contains(src, []byte("max_steps: 2,")) {
			t.Fatal("runner/testdata/mini/mini.cue no longer says max_steps: 2; update miniSpecSteps")
		}
		src = bytes.Replace(src, []byte("max_steps: 2,"), []byte("max_steps: "+strconv.Itoa(steps)+","), 1)
	}
	if err := os.WriteFile(filepath.Join(spec, "mini.cue"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	if extra != "" {
		if err := os.WriteFile(filepath.Join(spec, "k8s.cue"), []byte("package mini\n\n"+extra), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return spec
}

// outputs returns the train and eval outputs of a cache: kind -> sorted
// output IDs.
func outputs(t *testing.T, c *cache.Cache) map[string][]string {
	t.Helper()
	entries, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, e := range entries {
		if e.Kind == trainer.KindTrain || e.Kind == trainer.KindEval {
			out[e.Kind] = append(out[e.Kind], e.OutputID)
		}
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out
}

// treeDiff lists the entries of the first output of kind that differ
// between two caches' runs of the same grid (by stage name).
func treeDiff(a, b *cache.Cache, kind string) string {
	list := func(c *cache.Cache) map[string]map[string]string {
		entries, _ := c.List()
		out := map[string]map[string]string{}
		for _, e := range entries {
			if e.Kind != kind {
				continue
			}
			files := map[string]string{}
			dir := c.OutputDir(e.OutputID)
			filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return nil
				}
				rel, _ := filepath.Rel(dir, p)
				if d.IsDir() {
					files[rel] = "dir"
				} else if sum, err := trainer.FileSHA256(p); err == nil {
					files[rel] = sum
					if fi, err := d.Info(); err == nil && fi.Size() < 2048 {
						b, _ := os.ReadFile(p)
						files[rel] += " " + string(b)
					}
				}
				return nil
			})
			out[e.Stage] = files
		}
		return out
	}
	la, lb := list(a), list(b)
	var diff []string
	for stage, fa := range la {
		fb := lb[stage]
		for f, h := range fa {
			if fb[f] != h {
				diff = append(diff, fmt.Sprintf("%s: %s: %q vs %q", stage, f, h, fb[f]))
			}
		}
		for f, h := range fb {
			if _, ok := fa[f]; !ok {
				diff = append(diff, fmt.Sprintf("%s: %s: missing vs %q", stage, f, h))
			}
		}
	}
	sort.Strings(diff)
	return strings.Join(diff, "\n")
}

// runMini runs the grid of specDir one stage at a time with a cache of
// its own and returns the cache, the tables without provenance and the
// wall time.
func runMini(t *testing.T, ctx context.Context, specDir string, backends runner.Backends) (*cache.Cache, map[string]string, time.Duration) {
	t.Helper()
	return runMiniIn(t, ctx, specDir, t.TempDir(), backends)
}

// TestMiniGridByteIdentical runs the runner's miniature grid on the
// embedded engine and as Kubernetes Jobs running the crossin image (built
// from this tree) with hostPath volumes and with a PersistentVolumeClaim
// holding the cache: every train and eval output and the table must be
// byte-identical.
func TestMiniGridByteIdentical(t *testing.T) {
	cl := testCluster(t)
	ns := cl.namespace(t)
	img := cl.crossinImage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	embC, embTables, embDur := runMini(t, ctx, miniSpec(t, ""), runner.Backends{schema.BackendEmbedded: embedded.New()})
	want := outputs(t, embC)
	if len(want[trainer.KindTrain]) == 0 || len(want[trainer.KindEval]) == 0 {
		t.Fatalf("embedded run made no train or eval outputs: %v", want)
	}
	// the container and Slurm backends on the same image (when the
	// machine runs podman and Slurm, .ci/services.sh): the same outputs,
	// and the container run is the baseline of the per-stage overhead
	var ctDur time.Duration
	for _, kind := range []string{schema.BackendContainer, schema.BackendSlurm} {
		t.Run(kind, func(t *testing.T) {
			if kind == schema.BackendSlurm && os.Getenv("CROSSIN_TEST_SLURM") == "" {
				t.Skip("integration test: CROSSIN_TEST_SLURM not set (run .ci/services.sh and source .ci/services.env)")
			}
			eng := containertest.Engine(t)
			reg := containertest.Registry(t)
			cimg := cl.crossinImageAt(t, reg)
			ct, err := container.New(eng, cimg)
			if err != nil {
				t.Fatal(err)
			}
			var tr trainer.Trainer = ct
			backend := `{kind: "container", image: "` + cimg + `"}`
			if kind == schema.BackendSlurm {
				root := t.TempDir()
				if tr, err = slurm.New(slurm.Config{WorkDir: filepath.Join(root, "slurm"), CacheDir: root, Container: ct, Poll: 300 * time.Millisecond}); err != nil {
					t.Fatal(err)
				}
				backend = `{kind: "slurm", image: "` + cimg + `", partition: "debug"}`
			}
			spec := miniSpec(t, "backends: ref: "+backend+"\nexperiments: mini: backend: \"ref\"\n")
			c, tables, dur := runMini(t, ctx, spec, runner.Backends{schema.BackendEmbedded: embedded.New(), kind: tr})
			got := outputs(t, c)
			for _, k := range []string{trainer.KindTrain, trainer.KindEval} {
				if strings.Join(got[k], ",") != strings.Join(want[k], ",") {
					t.Errorf("%s outputs differ from the embedded run's:\n%s %v\nembedded  %v", k, kind, got[k], want[k])
				}
			}
			if tables["mini"] != embTables["mini"] {
				t.Errorf("tables differ:\n%s\n%s", tables["mini"], embTables["mini"])
			}
			n := len(got[trainer.KindTrain]) + len(got[trainer.KindEval])
			t.Logf("%s: %d train/eval stages; grid %.1fs vs %.1fs embedded: %.2fs per stage more", kind, n, dur.Seconds(), embDur.Seconds(), (dur-embDur).Seconds()/float64(n))
			if kind == schema.BackendContainer {
				ctDur = dur
			}
		})
	}
	rc, err := kubernetes.RESTConfig(cl.kubeconfig, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"hostpath", "claim", "oci"} {
		t.Run(mode, func(t *testing.T) {
			cfg := kubernetes.Config{Namespace: ns, Image: img, ScheduleTimeout: 2 * time.Minute}
			if mode == "oci" {
				// no shared filesystem: inputs and outputs go through a
				// registry that both this process and the pods reach
				cfg.Remote = kubernetes.Remote{Repository: cl.podRegistry(t) + "/crossin-test/jobs"}
			}
			if mode == "claim" {
				// a hostPath PersistentVolume stands in for the shared
				// filesystem; the cache lives on it
				root := t.TempDir()
				pvName := ns + "-cache"
				hp := corev1.HostPathDirectory
				_, err := cl.cs.CoreV1().PersistentVolumes().Create(ctx, &corev1.PersistentVolume{
					ObjectMeta: metav1.ObjectMeta{Name: pvName},
					Spec: corev1.PersistentVolumeSpec{
						Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
						AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
						PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
						StorageClassName:              "crossin-test",
						PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: root, Type: &hp}},
					},
				}, metav1.CreateOptions{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					cl.cs.CoreV1().PersistentVolumes().Delete(context.Background(), pvName, metav1.DeleteOptions{})
				})
				sc := "crossin-test"
				if _, err := cl.cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{
					ObjectMeta: metav1.ObjectMeta{Name: "cache"},
					Spec: corev1.PersistentVolumeClaimSpec{
						AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
						StorageClassName: &sc,
						VolumeName:       pvName,
						Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
					},
				}, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
				cfg.Volume = kubernetes.Volume{Claim: "cache", MountPath: root}
			}
			kb, err := kubernetes.NewFromConfig(rc, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := kb.Preflight(ctx); err != nil {
				t.Fatal(err)
			}
			spec := miniSpec(t, `backends: k8s: {kind: "kubernetes", image: "`+img+`", namespace: "`+ns+`"}
experiments: mini: backend: "k8s"
`)
			var c *cache.Cache
			var tables map[string]string
			var dur time.Duration
			if mode == "claim" {
				c, tables, dur = runMiniIn(t, ctx, spec, cfg.Volume.MountPath, runner.Backends{schema.BackendEmbedded: embedded.New(), schema.BackendK8s: kb})
			} else {
				c, tables, dur = runMini(t, ctx, spec, runner.Backends{schema.BackendEmbedded: embedded.New(), schema.BackendK8s: kb})
			}
			got := outputs(t, c)
			for _, k := range []string{trainer.KindTrain, trainer.KindEval} {
				if strings.Join(got[k], ",") != strings.Join(want[k], ",") {
					t.Errorf("%s outputs differ from the embedded run's:\nkubernetes %v\nembedded   %v\n%s", k, got[k], want[k], treeDiff(c, embC, k))
				}
			}
			if tables["mini"] != embTables["mini"] || tables["mini"] == "" {
				t.Errorf("tables differ:\n%s\n%s", tables["mini"], embTables["mini"])
			}
			n := len(got[trainer.KindTrain]) + len(got[trainer.KindEval])
			t.Logf("%s: %d train/eval stages as Jobs; grid %.1fs on kubernetes vs %.1fs embedded: %.2fs per stage more", mode, n, dur.Seconds(), embDur.Seconds(), (dur-embDur).Seconds()/float64(n))
			if ctDur > 0 {
				t.Logf("%s: kubernetes vs container backend (same image, same run): %.2fs per stage more", mode, (dur-ctDur).Seconds()/float64(n))
			}
			cl.noLeftovers(t, ns)
		})
	}
}

// podRegistry starts an in-memory OCI registry on the node's address,
// which the pods reach (unlike the loopback registries of the machine),
// and lets crossin and the pods use it over plain HTTP.
func (c *cluster) podRegistry(t *testing.T) string {
	t.Helper()
	nodes, err := c.cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil || len(nodes.Items) == 0 {
		t.Fatalf("nodes: %v", err)
	}
	ip := ""
	for _, a := range nodes.Items[0].Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			ip = a.Address
		}
	}
	if ip == "" || ip == "127.0.0.1" {
		t.Skipf("node %s has no address pods can reach (%q)", nodes.Items[0].Name, ip)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	t.Setenv("CROSSIN_INSECURE_REGISTRIES", l.Addr().String())
	return l.Addr().String()
}

// runMiniIn is runMini with the cache under root (the claim's volume).
func runMiniIn(t *testing.T, ctx context.Context, specDir, root string, backends runner.Backends) (*cache.Cache, map[string]string, time.Duration) {
	t.Helper()
	spec, err := schema.Load(specDir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.Open(filepath.Join(root, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	// one stage at a time: per-stage overheads compare cleanly
	res, err := runner.Run(ctx, spec, runner.RunOptions{Cache: c, OutDir: filepath.Join(t.TempDir(), "results"), Jobs: 1, Backends: backends})
	if err != nil {
		t.Fatal(err)
	}
	tables := map[string]string{}
	for _, r := range res.Reports {
		tables[r.Experiment] = withoutProvenance(string(r.Table))
	}
	return c, tables, time.Since(t0)
}

// TestGPUUnschedulable: a job asking for a GPU on the GPU-less node fails
// with the scheduler's reason once its schedule timeout has passed, and
// leaves nothing behind.
func TestGPUUnschedulable(t *testing.T) {
	cl := testCluster(t)
	ns := cl.namespace(t)
	rc, err := kubernetes.RESTConfig(cl.kubeconfig, "")
	if err != nil {
		t.Fatal(err)
	}
	const timeout = 5 * time.Second
	kb, err := kubernetes.NewFromConfig(rc, kubernetes.Config{Namespace: ns, Image: cl.registry + "/crossin-test/never-pulled:v1", GPUs: 1, ScheduleTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	_, err = kb.Run(context.Background(), fakeJob(t), nil)
	took := time.Since(t0)
	if err == nil {
		t.Fatal("a GPU job ran on a node without GPUs")
	}
	first, _, _ := strings.Cut(err.Error(), "\n")
	t.Logf("after %.1fs: %s", took.Seconds(), first)
	for _, want := range []string{"unschedulable for 5s", "nvidia.com/gpu"} {
		if !strings.Contains(first, want) {
			t.Errorf("error %q does not say %q", first, want)
		}
	}
	if took < timeout || took > timeout+30*time.Second {
		t.Errorf("failed after %s, want just after the %s schedule timeout", took, timeout)
	}
	cl.noLeftovers(t, ns)
}

// TestImagePullError: an image that does not exist fails the stage at
// once with the kubelet's reason.
func TestImagePullError(t *testing.T) {
	cl := testCluster(t)
	ns := cl.namespace(t)
	rc, err := kubernetes.RESTConfig(cl.kubeconfig, "")
	if err != nil {
		t.Fatal(err)
	}
	kb, err := kubernetes.NewFromConfig(rc, kubernetes.Config{Namespace: ns, Image: cl.registry + "/crossin-test/missing@sha256:" + strings.Repeat("0", 64), ScheduleTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	_, err = kb.Run(context.Background(), fakeJob(t), nil)
	if err == nil || !strings.Contains(err.Error(), "cannot start: ErrImagePull") && !strings.Contains(err.Error(), "cannot start: ImagePullBackOff") {
		t.Fatalf("got %v, want an image pull error", err)
	}
	t.Log(err)
	cl.noLeftovers(t, ns)
}

// TestPreflightNamespaceAndRBAC: a missing namespace and a service account
// without the role are refused before anything runs, in one line each.
func TestPreflightNamespaceAndRBAC(t *testing.T) {
	cl := testCluster(t)
	rc, err := kubernetes.RESTConfig(cl.kubeconfig, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	kb, err := kubernetes.NewFromConfig(rc, kubernetes.Config{Namespace: "crossin-no-such-namespace", Image: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := kb.Preflight(ctx); err == nil || !strings.Contains(err.Error(), `namespace "crossin-no-such-namespace" does not exist`) {
		t.Errorf("missing namespace: got %v", err)
	}
	ns := cl.namespace(t)
	if _, err := cl.cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "norole"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	imp := *rc
	imp.Impersonate.UserName = "system:serviceaccount:" + ns + ":norole"
	kb, err = kubernetes.NewFromConfig(&imp, kubernetes.Config{Namespace: ns, Image: "x"})
	if err != nil {
		t.Fatal(err)
	}
	err = kb.Preflight(ctx)
	if err == nil || !strings.Contains(err.Error(), "RBAC: not allowed to create jobs.batch") {
		t.Errorf("service account without a role: got %v", err)
	}
	// and Run says the same at the API call
	_, err = kb.Run(ctx, fakeJob(t), nil)
	if err == nil || !strings.Contains(err.Error(), "RBAC: not allowed to") {
		t.Errorf("Run without RBAC: got %v", err)
	}
}

// TestTrainerFails: a trainer that exits non-zero (here on a model
// directory without a model) fails the stage with BackoffLimitExceeded,
// its exit code and its log's tail; one that runs out of its memory limit
// says OOMKilled with the limit. Neither leaves anything behind.
func TestTrainerFails(t *testing.T) {
	cl := testCluster(t)
	ns := cl.namespace(t)
	img := cl.crossinImage(t)
	rc, err := kubernetes.RESTConfig(cl.kubeconfig, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, memory string
		want         []string
	}{
		{"exit", "", []string{"failed (BackoffLimitExceeded)", "trainer exited with code 1", "no prompts"}},
		{"oom", "6Mi", []string{"OOMKilled", "limit 6Mi", "raise the backend's memory"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kb, err := kubernetes.NewFromConfig(rc, kubernetes.Config{Namespace: ns, Image: img, Memory: tc.memory, ScheduleTimeout: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			_, err = kb.Run(context.Background(), fakeJob(t), nil)
			if err == nil {
				t.Fatal("the stage succeeded")
			}
			t.Log(err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q", w)
				}
			}
			cl.noLeftovers(t, ns)
		})
	}
}

// fakeJob is a valid eval job spec over empty files (the tests using it
// never get as far as running the trainer).
func fakeJob(t *testing.T) *trainer.JobSpec {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "model"), 0o755)
	os.WriteFile(filepath.Join(dir, "bench.jsonl"), nil, 0o644)
	return &trainer.JobSpec{
		Contract: trainer.Contract, Kind: trainer.KindEval,
		Model: trainer.ModelRef{Dir: filepath.Join(dir, "model")}, Data: []string{filepath.Join(dir, "bench.jsonl")},
		Eval: &trainer.EvalParams{Benchmark: "cross_mmlu", Mode: "loglik"}, OutputDir: filepath.Join(dir, "out"),
	}
}

// TestKillAndRerun: crossin is killed (-9) while a Job runs; the Job keeps
// running. The re-run re-attaches to it (no second Job for the action),
// ends with nothing left in the namespace and the embedded run's outputs.
// Then Ctrl-C (SIGINT) of a run leaves nothing behind either.
func TestKillAndRerun(t *testing.T) {
	cl := testCluster(t)
	ns := cl.namespace(t)
	img := cl.crossinImage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "crossin")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/crossin")
	build.Dir = repoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// more steps than the miniature's, on a quarter of a CPU (a limit
	// never changes bytes), so that the kill lands mid-job and the Job
	// still runs when the re-run starts, on an idle machine too
	extra := `backends: k8s: {kind: "kubernetes", image: "` + img + `", namespace: "` + ns + `", schedule_timeout: "2m", cpu: "250m"}
experiments: mini: backend: "k8s"
`
	spec := miniSpecSteps(t, extra, killSteps)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	crossin := func(args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+cl.kubeconfig, "CROSSIN_CACHE="+cacheDir)
		return cmd
	}

	// watch Job creations for the whole test
	w, err := cl.cs.BatchV1().Jobs(ns).Watch(ctx, metav1.ListOptions{LabelSelector: kubernetes.LabelManagedBy + "=crossin"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var mu sync.Mutex
	created := map[string][]string{} // job name -> UIDs created
	live := map[string]string{}      // job name -> UID of the Job that exists
	var dups []string                // Jobs created while one of the same action existed
	firstRunning := make(chan string, 1)
	go func() {
		for ev := range w.ResultChan() {
			j, ok := ev.Object.(metav1.Object)
			if !ok {
				continue
			}
			if ev.Type == watch.Deleted {
				mu.Lock()
				if live[j.GetName()] == string(j.GetUID()) {
					delete(live, j.GetName())
				}
				mu.Unlock()
			}
			if ev.Type != watch.Added {
				continue
			}
			// train Jobs run longest: the kill lands in one of them
			train := strings.HasPrefix(j.GetLabels()[kubernetes.LabelStage], "train.")
			mu.Lock()
			created[j.GetName()] = append(created[j.GetName()], string(j.GetUID()))
			if other := live[j.GetName()]; other != "" {
				dups = append(dups, j.GetName()+" ("+other+" still there)")
			}
			live[j.GetName()] = string(j.GetUID())
			mu.Unlock()
			if !train {
				continue
			}
			select {
			case firstRunning <- j.GetName():
			default:
			}
		}
	}()

	run1, exited1, out1 := start(t, crossin("run", spec, "-o", filepath.Join(t.TempDir(), "out1")))
	var victim string
	select {
	case victim = <-firstRunning:
	case <-exited1:
		t.Fatalf("crossin run ended before a train Job was created:\n%s", out1)
	case <-time.After(5 * time.Minute):
		run1.Process.Kill()
		t.Fatal("no Job was created within 5 minutes")
	}
	// let its pod start, then kill crossin outright
	waitPodRunning(t, cl, ns, victim)
	run1.Process.Signal(syscall.SIGKILL)
	<-exited1
	j, err := cl.cs.BatchV1().Jobs(ns).Get(ctx, victim, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the Job of the killed crossin: %v", err)
	}
	orphan := j.UID
	active := j.Status.CompletionTime == nil && j.Status.Failed == 0
	t.Logf("killed crossin while job %s (%s) ran; still active: %v", victim, orphan, active)

	t0 := time.Now()
	out, err := crossin("run", spec, "-o", filepath.Join(t.TempDir(), "out2")).CombinedOutput()
	if err != nil {
		t.Fatalf("re-run: %v\n%s", err, out)
	}
	t.Logf("re-run took %.1fs", time.Since(t0).Seconds())
	mu.Lock()
	if len(dups) > 0 {
		t.Errorf("Jobs created while a Job of the same action existed: %v; a re-run must re-attach to a running Job, not duplicate it", dups)
	}

	if !active {
		// it finished between the kill and the re-run: then it is
		// stale and replaced, and re-attaching was not exercised
		t.Logf("job %s finished before the re-run started; re-attach not exercised this time", victim)
	}
	mu.Unlock()
	if active {
		logs, err := crossin("logs", j.Annotations[kubernetes.AnnotationStage]).CombinedOutput()
		if err != nil || !strings.Contains(string(logs), "re-attaching to running job "+ns+"/"+victim) {
			t.Errorf("crossin logs %s does not show the re-attach (%v):\n%s", j.Annotations[kubernetes.AnnotationStage], err, logs)
		}
		// a second Job only after the re-attached one ended without its
		// outputs (the runner cleared them when the re-run started)
		mu.Lock()
		if n := len(created[victim]); n > 1 && !strings.Contains(string(logs), "ended without its outputs") {
			t.Errorf("job %s created %d times (%v): a re-run must re-attach to a running Job", victim, n, created[victim])
		}
		mu.Unlock()
	}
	cl.noLeftovers(t, ns)

	// the same outputs as the embedded engine
	embC, _, _ := runMini(t, ctx, miniSpecSteps(t, "", killSteps), runner.Backends{schema.BackendEmbedded: embedded.New()})
	c, err := cache.Open(cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	want, got := outputs(t, embC), outputs(t, c)
	for _, k := range []string{trainer.KindTrain, trainer.KindEval} {
		if strings.Join(got[k], ",") != strings.Join(want[k], ",") {
			t.Errorf("%s outputs after kill and re-run differ from the embedded run's:\n%v\n%v\n%s", k, got[k], want[k], treeDiff(c, embC, k))
		}
	}

	// Ctrl-C: a fresh cache, interrupted while its first Job runs
	cacheDir = filepath.Join(t.TempDir(), "cache2")
	for len(firstRunning) > 0 {
		<-firstRunning
	}
	run3, exited3, out3 := start(t, crossin("run", spec, "-o", filepath.Join(t.TempDir(), "out3")))
	select {
	case victim = <-firstRunning:
	case <-exited3:
		t.Fatalf("crossin run ended before a train Job was created:\n%s", out3)
	case <-time.After(5 * time.Minute):
		run3.Process.Kill()
		t.Fatal("no Job was created within 5 minutes")
	}
	waitPodRunning(t, cl, ns, victim)
	run3.Process.Signal(syscall.SIGINT)
	select {
	case <-exited3:
	case <-time.After(2 * time.Minute):
		run3.Process.Kill()
		t.Fatal("crossin did not stop within 2 minutes of SIGINT")
	}
	if left := cl.leftovers(t, ns); len(left) > 0 {
		t.Errorf("after Ctrl-C, crossin left: %s", strings.Join(left, ", "))
	}
}

// start starts cmd with its output in a buffer; the channel is closed
// when it has exited.
func start(t *testing.T, cmd *exec.Cmd) (*exec.Cmd, chan struct{}, *syncbuf.Buffer) {
	t.Helper()
	out := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	return cmd, exited, out
}

func waitPodRunning(t *testing.T, cl *cluster, ns, job string) {
	t.Helper()
	for end := time.Now().Add(2 * time.Minute); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		pods, err := cl.cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: kubernetes.LabelJob + "=" + job})
		if err == nil && len(pods.Items) > 0 && pods.Items[0].Status.Phase == corev1.PodRunning {
			return
		}
	}
	t.Fatalf("job %s: no running pod within 2 minutes", job)
}

// withoutProvenance drops a table's provenance footer, which names the
// spec (here two spec files, differing by backend) and the results record
// (which names each row's backend), not what the rows say.
func withoutProvenance(table string) string {
	var keep []string
	for _, l := range strings.Split(table, "\n") {
		if !strings.Contains(l, "provenance: ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
