package kubernetes

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/crossin-lab/crossin/trainer"
)

// These tests drive the backend's logic (create, re-attach, stale
// cleanup, failure lines, cancel) against client-go's fake clientset,
// playing the job controller and kubelet by writing Job and pod status.
// The real cluster tests are in e2e_test.go.

const testNS = "crossin"

type fakeCluster struct {
	cs      *fake.Clientset
	creates atomic.Int32 // Jobs created
	deletes atomic.Int32 // Jobs deleted
}

func newFakeCluster() *fakeCluster {
	f := &fakeCluster{cs: fake.NewSimpleClientset()}
	f.cs.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		j := a.(k8stesting.CreateAction).GetObject().(*batchv1.Job)
		if j.UID == "" {
			j.UID = types.UID("uid-" + strconv.Itoa(int(f.creates.Add(1))))
		}
		return false, nil, nil
	})
	// the garbage collector: a deleted Job takes its pods along
	f.cs.PrependReactor("delete", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		f.deletes.Add(1)
		name := a.(k8stesting.DeleteAction).GetName()
		if j, err := f.cs.Tracker().Get(batchv1.SchemeGroupVersion.WithResource("jobs"), testNS, name); err == nil {
			uid := j.(*batchv1.Job).UID
			pods, _ := f.cs.Tracker().List(corev1.SchemeGroupVersion.WithResource("pods"), corev1.SchemeGroupVersion.WithKind("Pod"), testNS)
			for _, p := range pods.(*corev1.PodList).Items {
				if p.Labels[batchv1.ControllerUidLabel] == string(uid) {
					f.cs.Tracker().Delete(corev1.SchemeGroupVersion.WithResource("pods"), testNS, p.Name)
				}
			}
		}
		return false, nil, nil
	})
	return f
}

// play keeps the Job named name (once it exists) and its one pod in the
// given state, re-writing them every 20 ms (so that watches started at any
// time see them) until the returned stop is called.
func (f *fakeCluster) play(name string, pod func(uid types.UID) *corev1.Pod, status batchv1.JobStatus) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ctx.Err() == nil; n++ {
			time.Sleep(20 * time.Millisecond)
			j, err := f.cs.BatchV1().Jobs(testNS).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				continue
			}
			if pod != nil {
				p := pod(j.UID)
				p.Name, p.Namespace = name+"-pod", testNS
				if p.Labels == nil {
					p.Labels = map[string]string{}
				}
				p.Labels[batchv1.ControllerUidLabel] = string(j.UID)
				p.Labels[LabelJob] = name
				p.Annotations = map[string]string{"n": strconv.Itoa(n)}
				if _, err := f.cs.CoreV1().Pods(testNS).Update(ctx, p, metav1.UpdateOptions{}); err != nil {
					f.cs.CoreV1().Pods(testNS).Create(ctx, p, metav1.CreateOptions{})
				}
			}
			j.Status = status
			f.cs.BatchV1().Jobs(testNS).UpdateStatus(ctx, j, metav1.UpdateOptions{})
		}
	}()
	return func() { cancel(); wg.Wait() }
}

func runningPod(uid types.UID) *corev1.Pod {
	return &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "trainer", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}}
}

func terminatedPod(reason string, code int32) func(types.UID) *corev1.Pod {
	return func(types.UID) *corev1.Pod {
		return &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "trainer", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: code}}}}}}
	}
}

func jobCondition(t batchv1.JobConditionType, reason string) batchv1.JobStatus {
	return batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: t, Status: corev1.ConditionTrue, Reason: reason}}}
}

// withManifest writes a valid (empty) manifest into the job's output
// directory, as a finished trainer would.
func withManifest(t *testing.T, job *trainer.JobSpec) {
	os.MkdirAll(job.OutputDir, 0o755)
	m, _ := json.Marshal(trainer.Manifest{Contract: trainer.Contract, Kind: job.Kind, Trainer: "test", Files: map[string]string{}})
	if err := os.WriteFile(filepath.Join(job.OutputDir, trainer.ManifestFile), m, 0o644); err != nil {
		t.Fatal(err)
	}
}

type ident struct{ stage, action string }

func (i ident) StageName() string       { return i.stage }
func (i ident) ActionID() string        { return i.action }
func (i ident) Update(int, int, string) {}

var testID = ident{"eval/mini/base-20/s42/mmlu", strings.Repeat("ab", 32)}

func TestRunLifecycle(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cfg       Config
		pre       func(t *testing.T, f *fakeCluster, b *Backend, job *trainer.JobSpec) // before Run
		pod       func(types.UID) *corev1.Pod
		status    batchv1.JobStatus
		wantErr   []string // substrings of the first error line; none: success
		creates   int32
		maxDur    time.Duration
		cancelled bool
	}{
		{name: "complete", pod: runningPod, status: jobCondition(batchv1.JobComplete, ""), creates: 1},
		{name: "reattach", pod: runningPod, status: jobCondition(batchv1.JobComplete, ""), creates: 0,
			pre: func(t *testing.T, f *fakeCluster, b *Backend, job *trainer.JobSpec) {
				bt, err := b.build(job, testID.stage, testID.action)
				if err != nil {
					t.Fatal(err)
				}
				bt.Job.UID = "earlier"
				if err := f.cs.Tracker().Create(batchv1.SchemeGroupVersion.WithResource("jobs"), bt.Job, testNS); err != nil {
					t.Fatal(err)
				}
			}},
		// the re-run's runner cleared the output directory while the
		// re-attached Job ran: it is run again, once, in a fresh Job
		{name: "reattach-lost-outputs", pod: runningPod, status: jobCondition(batchv1.JobComplete, ""), creates: 1,
			pre: func(t *testing.T, f *fakeCluster, b *Backend, job *trainer.JobSpec) {
				bt, _ := b.build(job, testID.stage, testID.action)
				bt.Job.UID = "earlier"
				if err := f.cs.Tracker().Create(batchv1.SchemeGroupVersion.WithResource("jobs"), bt.Job, testNS); err != nil {
					t.Fatal(err)
				}
				os.Remove(filepath.Join(job.OutputDir, trainer.ManifestFile))
				f.cs.PrependReactor("create", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
					withManifest(t, job) // the fresh Job's trainer writes its outputs
					return false, nil, nil
				})
			}},
		{name: "stale", pod: runningPod, status: jobCondition(batchv1.JobComplete, ""), creates: 1,
			pre: func(t *testing.T, f *fakeCluster, b *Backend, job *trainer.JobSpec) {
				bt, _ := b.build(job, testID.stage, testID.action)
				bt.Job.UID = "earlier"
				bt.Job.Annotations[AnnotationSpec] = "another image"
				f.cs.Tracker().Create(batchv1.SchemeGroupVersion.WithResource("jobs"), bt.Job, testNS)
			}},
		{name: "imagepull", creates: 1, wantErr: []string{"cannot start: ErrImagePull: manifest unknown"},
			pod: func(types.UID) *corev1.Pod {
				return &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
					Name: "trainer", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "manifest unknown"}}}}}}
			}},
		{name: "unschedulable", cfg: Config{GPUs: 1, ScheduleTimeout: time.Second}, creates: 1, maxDur: 5 * time.Second,
			wantErr: []string{"unschedulable for 1s (schedule_timeout): 0/1 nodes are available: 1 Insufficient nvidia.com/gpu."},
			pod: func(types.UID) *corev1.Pod {
				return &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
					Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
					Message: "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."}}}}
			}},
		{name: "nopod", cfg: Config{ScheduleTimeout: time.Second}, creates: 1, maxDur: 5 * time.Second,
			wantErr: []string{"no pod within 1s (schedule_timeout)"}},
		{name: "oomkilled", cfg: Config{Memory: "64Mi"}, creates: 1, pod: terminatedPod("OOMKilled", 137),
			status:  jobCondition(batchv1.JobFailed, "BackoffLimitExceeded"),
			wantErr: []string{"failed (BackoffLimitExceeded): OOMKilled", "limit 64Mi, exit code 137"}},
		{name: "exitcode", creates: 1, pod: terminatedPod("Error", 3),
			status:  jobCondition(batchv1.JobFailed, "BackoffLimitExceeded"),
			wantErr: []string{"failed (BackoffLimitExceeded): pod ", "trainer exited with code 3 (Error)"}},
		{name: "cancel", creates: 1, pod: runningPod, cancelled: true, wantErr: []string{"context canceled (job and pods deleted)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeCluster()
			cfg := tc.cfg
			cfg.Namespace, cfg.Image = testNS, "reg/img@sha256:1"
			b, err := New(f.cs, cfg)
			if err != nil {
				t.Fatal(err)
			}
			var log strings.Builder
			b = b.WithLog(&syncWriter{w: &log}).(*Backend)
			job := testJob(t)
			withManifest(t, job)
			if tc.pre != nil {
				tc.pre(t, f, b, job)
			}
			name := JobName(job.Kind, testID.action)
			stop := f.play(name, tc.pod, tc.status)
			defer stop()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if tc.cancelled {
				go func() {
					for {
						if p, err := f.cs.CoreV1().Pods(testNS).Get(ctx, name+"-pod", metav1.GetOptions{}); err == nil && p.Status.Phase == corev1.PodRunning {
							cancel()
							return
						}
						time.Sleep(20 * time.Millisecond)
					}
				}()
			}
			t0 := time.Now()
			m, err := b.Run(ctx, job, testID)
			took := time.Since(t0)
			stop()
			if tc.maxDur > 0 && took > tc.maxDur {
				t.Errorf("took %s, want under %s", took, tc.maxDur)
			}
			if len(tc.wantErr) == 0 {
				if err != nil || m == nil {
					t.Fatalf("Run: %v", err)
				}
			} else {
				if err == nil {
					t.Fatal("Run succeeded")
				}
				first, _, _ := strings.Cut(err.Error(), "\n")
				for _, w := range tc.wantErr {
					if !strings.Contains(first, w) {
						t.Errorf("error %q does not say %q", first, w)
					}
				}
			}
			if got := f.creates.Load(); got != tc.creates {
				t.Errorf("%d Jobs created, want %d", got, tc.creates)
			}
			// nothing is left: the Job (and with it its pods) is deleted
			if jobs, _ := f.cs.BatchV1().Jobs(testNS).List(context.Background(), metav1.ListOptions{}); len(jobs.Items) != 0 {
				t.Errorf("%d Jobs left", len(jobs.Items))
			}
			if strings.HasPrefix(tc.name, "reattach") && !strings.Contains(log.String(), "re-attaching to running job") {
				t.Errorf("log does not say it re-attached:\n%s", log.String())
			}
			if tc.name == "reattach-lost-outputs" && !strings.Contains(log.String(), "ended without its outputs") {
				t.Errorf("log does not say why it ran the job again:\n%s", log.String())
			}
			if tc.name == "stale" && !strings.Contains(log.String(), "removing stale job") {
				t.Errorf("log does not say it removed the stale job:\n%s", log.String())
			}
		})
	}
}

// TestConfigMapOwned: the job spec's ConfigMap is owned by its Job, so the
// garbage collector removes it with the Job, and holds the pod-side spec.
func TestConfigMapOwned(t *testing.T) {
	f := newFakeCluster()
	b, err := New(f.cs, Config{Namespace: testNS, Image: "img"})
	if err != nil {
		t.Fatal(err)
	}
	job := testJob(t)
	bt, err := b.build(job, testID.stage, testID.action)
	if err != nil {
		t.Fatal(err)
	}
	uid, _, err := b.ensure(context.Background(), bt)
	if err != nil {
		t.Fatal(err)
	}
	cm, err := f.cs.CoreV1().ConfigMaps(testNS).Get(context.Background(), bt.Job.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].UID != uid || cm.OwnerReferences[0].Kind != "Job" {
		t.Errorf("owner references %+v, want the Job %s", cm.OwnerReferences, uid)
	}
	if !strings.Contains(cm.Data[specFile], `"model"`) {
		t.Errorf("spec %q", cm.Data[specFile])
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
