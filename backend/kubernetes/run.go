package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/crossin-lab/crossin/backend/container"
	"github.com/crossin-lab/crossin/trainer"
)

// Run implements trainer.Trainer: it runs job as a Kubernetes Job (or
// re-attaches to the running Job of the same action), follows it to the
// end, deletes it, and returns the verified manifest. If ctx ends first,
// the Job and its pods are deleted before Run returns.
func (b *Backend) Run(ctx context.Context, job *trainer.JobSpec, progress trainer.Progress) (*trainer.Manifest, error) {
	if err := job.Validate(); err != nil {
		return nil, err
	}
	err := os.MkdirAll(job.OutputDir, 0o755)
	if err != nil {
		return nil, err
	}
	stage, action := identity(job, progress)
	var (
		rs *trainer.JobSpec
		in []remoteInput
	)
	if b.cfg.Remote.Repository != "" {
		if rs, in, err = b.pushInputs(ctx, job, action); err != nil {
			return nil, err
		}
	}
	bt, err := b.buildRemote(job, stage, action, rs, in)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		m, reattached, err := b.runOnce(ctx, job, bt, action, progress)
		if err == nil || !reattached || attempt > 0 || ctx.Err() != nil {
			return m, err
		}
		// The Job ran for an earlier crossin, and this run's runner
		// cleared the output directory before re-attaching: outputs the
		// trainer wrote before that are gone. A fresh Job of the same
		// spec gives the same bytes.
		b.logf("== kubernetes: the re-attached job ended without its outputs (%s); running it again\n", oneLine(err.Error()))
	}
}

// runOnce creates or re-attaches to the Job of bt and follows it to the
// end; reattached says whether it was an earlier crossin's Job.
func (b *Backend) runOnce(ctx context.Context, job *trainer.JobSpec, bt *built, action string, progress trainer.Progress) (m *trainer.Manifest, reattached bool, err error) {
	name := bt.Job.Name
	uid, reattached, err := b.ensure(ctx, bt)
	if err != nil {
		return nil, false, err
	}
	if progress != nil {
		progress.Update(0, 0, "kubernetes job "+b.cfg.Namespace+"/"+name)
	}
	term, ferr := b.follow(ctx, name, uid, progress)
	cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if ctx.Err() != nil {
		// Ctrl-C or a newer watch-mode edit: nothing of the job stays.
		derr := b.deleteAndWait(cleanup, name, uid)
		if derr != nil {
			return nil, reattached, fmt.Errorf("kubernetes job %s/%s: %w; deleting it: %v", b.cfg.Namespace, name, ctx.Err(), derr)
		}
		return nil, reattached, fmt.Errorf("kubernetes job %s/%s: %w (job and pods deleted)", b.cfg.Namespace, name, ctx.Err())
	}
	if ferr == nil && b.cfg.Remote.Repository != "" {
		ferr = b.fetchOutputs(ctx, job, name, uid, term, action)
	}
	// Finished either way: the Job has served its purpose (outputs are in
	// the output directory, logs in the stage log); its pods go with it.
	if ferr != nil {
		b.delete(cleanup, name, uid, metav1.DeletePropagationBackground)
		return nil, reattached, ferr
	}
	m, err = container.ReadManifest(job)
	if err != nil && reattached {
		// run again: the next ensure removes this Job as finished
		return nil, true, err
	}
	b.delete(cleanup, name, uid, metav1.DeletePropagationBackground)
	return m, reattached, err
}

// ensure creates the Job of bt, or re-attaches to a running one of the same
// action and spec (then reattached is true), and returns the Job's UID. A Job of the same name that
// has finished, is being deleted, or was built from another spec is stale
// (a crossin killed after it ended, or an older image): it is deleted with
// its pods before the new one is created.
func (b *Backend) ensure(ctx context.Context, bt *built) (types.UID, bool, error) {
	jobs := b.cs.BatchV1().Jobs(b.cfg.Namespace)
	name := bt.Job.Name
	old, err := jobs.Get(ctx, name, metav1.GetOptions{})
	switch {
	case err == nil:
		if old.Annotations[AnnotationSpec] == bt.Hash && old.DeletionTimestamp == nil && !finished(old) {
			b.logf("== kubernetes: re-attaching to running job %s/%s (started %s by an earlier crossin)\n", b.cfg.Namespace, name, old.CreationTimestamp.UTC().Format(time.RFC3339))
			return old.UID, true, nil
		}
		why := "finished"
		switch {
		case old.DeletionTimestamp != nil:
			why = "being deleted"
		case old.Annotations[AnnotationSpec] != bt.Hash:
			why = "built from another spec"
		}
		b.logf("== kubernetes: removing stale job %s/%s (%s)\n", b.cfg.Namespace, name, why)
		if err := b.deleteAndWait(ctx, name, old.UID); err != nil {
			return "", false, err
		}
	case apierrors.IsNotFound(err):
	default:
		return "", false, b.apiError("get", "jobs", err)
	}

	cms := b.cs.CoreV1().ConfigMaps(b.cfg.Namespace)
	for attempt := 0; ; attempt++ {
		if err := cms.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return "", false, b.apiError("delete", "configmaps", err)
		}
		_, err := cms.Create(ctx, bt.ConfigMap, metav1.CreateOptions{})
		if err == nil {
			break
		}
		if !apierrors.IsAlreadyExists(err) || attempt == 5 {
			return "", false, b.apiError("create", "configmaps", err)
		}
	}
	created, err := jobs.Create(ctx, bt.Job, metav1.CreateOptions{})
	if err != nil {
		cms.Delete(context.WithoutCancel(ctx), name, metav1.DeleteOptions{})
		return "", false, b.apiError("create", "jobs", err)
	}
	// The ConfigMap belongs to the Job: deleting the Job (here, by the
	// TTL controller, or by hand) removes it.
	patch := fmt.Sprintf(`{"metadata":{"ownerReferences":[{"apiVersion":"batch/v1","kind":"Job","name":%q,"uid":%q}]}}`, name, created.UID)
	if _, err := cms.Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return created.UID, false, b.apiError("patch", "configmaps", err)
	}
	return created.UID, false, nil
}

func finished(j *batchv1.Job) bool {
	if j.Status.Active == 0 && j.Status.Succeeded+j.Status.Failed > 0 {
		return true // its one pod ended; the condition follows
	}
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// imagePullReasons are the waiting reasons of a container whose image
// cannot be had; the stage fails on the first one.
var imagePullReasons = map[string]bool{
	"ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true,
	"ErrImageNeverPull": true, "RegistryUnavailable": true,
	"CreateContainerConfigError": true, "CreateContainerError": true,
}

// follower is the state of one followed Job.
type follower struct {
	b          *Backend
	name       string
	uid        types.UID
	start      time.Time
	unsched    time.Time // first seen unschedulable
	unschedMsg string
	term       *corev1.ContainerStateTerminated // the trainer's last termination
	podName    string
	podReason  string // pod-level failure (Evicted, DeadlineExceeded)
	logs       map[types.UID]bool
	wg         sync.WaitGroup
	tail       *container.TailBuffer
	progress   trainer.Progress // fed the trainer's "progress {json}" lines
}

// follow watches the Job and its pods until the Job completes (nil), fails
// or cannot run (one-line error), or ctx ends (ctx.Err()); it returns the
// trainer container's last termination seen. Watches that the
// API server closes are re-established from a fresh list.
func (b *Backend) follow(ctx context.Context, name string, uid types.UID, progress trainer.Progress) (*corev1.ContainerStateTerminated, error) {
	f := &follower{b: b, name: name, uid: uid, start: time.Now(), logs: map[types.UID]bool{}, tail: container.NewTailBuffer(4 << 10), progress: progress}
	err := f.loop(ctx)
	// the logs end with the container; wait for them (not forever)
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
	}
	if err != nil && ctx.Err() == nil {
		if t := f.tail.String(); t != "" && !strings.Contains(err.Error(), "\n") {
			err = fmt.Errorf("%w\n%s", err, t)
		}
	}
	return f.term, err
}

func (f *follower) loop(ctx context.Context) error {
	b := f.b
	jobs := b.cs.BatchV1().Jobs(b.cfg.Namespace)
	pods := b.cs.CoreV1().Pods(b.cfg.Namespace)
	jsel := metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", f.name).String()}
	psel := metav1.ListOptions{LabelSelector: batchv1.ControllerUidLabel + "=" + string(f.uid)}
	for {
		jl, err := jobs.List(ctx, jsel)
		if err != nil {
			return f.ctxOr(ctx, b.apiError("list", "jobs", err))
		}
		if done, err := f.job(jl.Items); done {
			return err
		}
		pl, err := pods.List(ctx, psel)
		if err != nil {
			return f.ctxOr(ctx, b.apiError("list", "pods", err))
		}
		for i := range pl.Items {
			if err := f.pod(ctx, &pl.Items[i]); err != nil {
				return err
			}
		}
		if err := f.timeouts(ctx, len(pl.Items)); err != nil {
			return err
		}
		jo, po := jsel, psel
		jo.ResourceVersion, po.ResourceVersion = jl.ResourceVersion, pl.ResourceVersion
		jw, err := jobs.Watch(ctx, jo)
		if err != nil {
			return f.ctxOr(ctx, b.apiError("watch", "jobs", err))
		}
		pw, err := pods.Watch(ctx, po)
		if err != nil {
			jw.Stop()
			return f.ctxOr(ctx, b.apiError("watch", "pods", err))
		}
		err, relist := f.watch(ctx, jw, pw, len(pl.Items))
		jw.Stop()
		pw.Stop()
		if !relist {
			return err
		}
		if err := pause(ctx); err != nil {
			return err
		}
	}
}

// pause waits a second before a watch is re-established: a watch the API
// server ends with an error (a watch cache behind etcd answers "Too large
// resource version", retry after 1s) would otherwise be retried in a
// tight loop.
func pause(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Second):
		return nil
	}
}

func (f *follower) ctxOr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// watch handles events until the Job ends (relist false) or a watch closes
// (relist true: list again and re-watch).
func (f *follower) watch(ctx context.Context, jw, pw watch.Interface, npods int) (error, bool) {
	tick := time.NewTicker(time.Second) // timeouts only; state comes from the watches
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err(), false
		case ev, ok := <-jw.ResultChan():
			if !ok || ev.Type == watch.Error {
				return nil, true
			}
			j, isJob := ev.Object.(*batchv1.Job)
			if !isJob || j.UID != f.uid {
				continue
			}
			if ev.Type == watch.Deleted {
				return fmt.Errorf("kubernetes job %s/%s was deleted by someone else while it ran", f.b.cfg.Namespace, f.name), false
			}
			if done, err := f.job([]batchv1.Job{*j}); done {
				return err, false
			}
		case ev, ok := <-pw.ResultChan():
			if !ok || ev.Type == watch.Error {
				return nil, true
			}
			p, isPod := ev.Object.(*corev1.Pod)
			if !isPod || ev.Type == watch.Deleted {
				continue
			}
			npods = max(npods, 1)
			if err := f.pod(ctx, p); err != nil {
				return err, false
			}
		case <-tick.C:
			if err := f.timeouts(ctx, npods); err != nil {
				return err, false
			}
		}
	}
}

// job interprets the Job's conditions: done with nil (Complete), done
// with the failure, or not done.
func (f *follower) job(items []batchv1.Job) (bool, error) {
	if len(items) == 0 || items[0].UID != f.uid {
		return true, fmt.Errorf("kubernetes job %s/%s was deleted by someone else while it ran", f.b.cfg.Namespace, f.name)
	}
	j := &items[0]
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return true, nil
		case batchv1.JobFailed:
			return true, f.failure(c.Reason, c.Message)
		}
	}
	return false, nil
}

// failure is the one-line error of a failed Job.
func (f *follower) failure(reason, message string) error {
	what := fmt.Sprintf("kubernetes job %s/%s failed (%s)", f.b.cfg.Namespace, f.name, reason)
	switch t := f.term; {
	case t != nil && t.Reason == "OOMKilled":
		lim := f.b.cfg.Memory
		if lim == "" {
			lim = "the node's memory"
		}
		return fmt.Errorf("%s: OOMKilled: the trainer in pod %s ran out of memory (limit %s, exit code %d); raise the backend's memory", what, f.podName, lim, t.ExitCode)
	case t != nil:
		msg := fmt.Sprintf("%s: pod %s: trainer exited with code %d (%s)", what, f.podName, t.ExitCode, t.Reason)
		if f.tail.String() == "" && strings.TrimSpace(t.Message) != "" {
			msg += "\n" + strings.TrimSpace(t.Message)
		}
		return errors.New(msg)
	case f.podReason != "":
		return fmt.Errorf("%s: pod %s: %s", what, f.podName, f.podReason)
	}
	return fmt.Errorf("%s: %s", what, message)
}

// pod looks at one pod of the Job: starts following its logs once it runs,
// records its termination, fails at once on an image that cannot be
// pulled, and notes when it became unschedulable.
func (f *follower) pod(ctx context.Context, p *corev1.Pod) error {
	if p.Labels[batchv1.ControllerUidLabel] != string(f.uid) {
		return nil
	}
	f.podName = p.Name
	if p.Status.Phase == corev1.PodFailed && p.Status.Reason != "" {
		f.podReason = p.Status.Reason + ": " + p.Status.Message
	}
	unsched := false
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			unsched = true
			f.unschedMsg = c.Message
		}
	}
	if unsched {
		if f.unsched.IsZero() {
			f.unsched = time.Now()
		}
	} else {
		f.unsched = time.Time{}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && imagePullReasons[w.Reason] {
			return fmt.Errorf("kubernetes job %s/%s: pod %s cannot start: %s: %s", f.b.cfg.Namespace, f.name, p.Name, w.Reason, oneLine(w.Message))
		}
		if t := cs.State.Terminated; t != nil {
			f.term = t
		}
		if (cs.State.Running != nil || cs.State.Terminated != nil) && !f.logs[p.UID] {
			f.logs[p.UID] = true
			f.wg.Add(1)
			go f.streamLogs(ctx, p.Name)
		}
	}
	return nil
}

// timeouts fails a Job whose pod stayed unschedulable, or that has no pod
// at all, for longer than the schedule timeout.
func (f *follower) timeouts(ctx context.Context, npods int) error {
	to := f.b.cfg.ScheduleTimeout
	ns := f.b.cfg.Namespace
	if !f.unsched.IsZero() && time.Since(f.unsched) >= to {
		return fmt.Errorf("kubernetes job %s/%s: unschedulable for %s (schedule_timeout): %s", ns, f.name, to, oneLine(f.unschedMsg))
	}
	if npods == 0 && time.Since(f.start) >= to {
		msg := "no pod was created"
		ev, err := f.b.cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.AndSelectors(
			fields.OneTermEqualSelector("involvedObject.name", f.name),
			fields.OneTermEqualSelector("involvedObject.kind", "Job")).String()})
		if err == nil {
			sort.Slice(ev.Items, func(i, j int) bool { return ev.Items[i].LastTimestamp.Before(&ev.Items[j].LastTimestamp) })
			for _, e := range ev.Items {
				if e.Type == corev1.EventTypeWarning {
					msg = e.Reason + ": " + e.Message
				}
			}
		}
		return fmt.Errorf("kubernetes job %s/%s: no pod within %s (schedule_timeout): %s", ns, f.name, to, oneLine(msg))
	}
	return nil
}

// streamLogs copies the trainer container's log into the stage log as it
// comes, passes its progress lines to the runner's display, and keeps its
// tail for the error message.
func (f *follower) streamLogs(ctx context.Context, pod string) {
	defer f.wg.Done()
	req := f.b.cs.CoreV1().Pods(f.b.cfg.Namespace).GetLogs(pod, &corev1.PodLogOptions{Container: "trainer", Follow: true})
	rc, err := req.Stream(ctx)
	if err != nil {
		f.b.logf("== kubernetes: logs of pod %s: %v\n", pod, err)
		return
	}
	defer rc.Close()
	f.b.logf("== kubernetes: pod %s\n", pod)
	ws := []io.Writer{f.tail}
	if f.b.log != nil {
		ws = append(ws, &lockedWriter{b: f.b})
	}
	if f.progress != nil {
		// the trainer's progress lines (contract v2) drive the display,
		// as with the container backend
		ws = append(ws, trainer.ProgressWriter(f.progress))
	}
	io.Copy(io.MultiWriter(ws...), rc)
}

// deleteAndWait deletes the Job in the foreground (its pods first) and
// waits, watching, until the Job and its pods are gone.
func (b *Backend) deleteAndWait(ctx context.Context, name string, uid types.UID) error {
	if err := b.delete(ctx, name, uid, metav1.DeletePropagationForeground); err != nil {
		return err
	}
	jobs := b.cs.BatchV1().Jobs(b.cfg.Namespace)
	pods := b.cs.CoreV1().Pods(b.cfg.Namespace)
	jsel := metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()}
	psel := metav1.ListOptions{LabelSelector: batchv1.ControllerUidLabel + "=" + string(uid)}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	gone := func(list func() (int, string, error), w func(rv string) (watch.Interface, error), what string) error {
		for {
			n, rv, err := list()
			if err != nil {
				return b.apiError("list", what, err)
			}
			if n == 0 {
				return nil
			}
			wi, err := w(rv)
			if err != nil {
				return b.apiError("watch", what, err)
			}
			failed := false
			for ev := range wi.ResultChan() {
				if ev.Type == watch.Error {
					failed = true
					break
				}
				if ev.Type == watch.Deleted {
					n--
					if n <= 0 {
						break
					}
				}
			}
			wi.Stop()
			if ctx.Err() != nil {
				return fmt.Errorf("kubernetes: %s of job %s still there after deletion: %w", what, name, ctx.Err())
			}
			if failed {
				if err := pause(ctx); err != nil {
					return fmt.Errorf("kubernetes: %s of job %s still there after deletion: %w", what, name, err)
				}
			}
		}
	}
	err := gone(func() (int, string, error) {
		l, err := jobs.List(ctx, jsel)
		if err != nil {
			return 0, "", err
		}
		n := 0
		for _, j := range l.Items {
			if j.UID == uid {
				n++
			}
		}
		return n, l.ResourceVersion, nil
	}, func(rv string) (watch.Interface, error) {
		o := jsel
		o.ResourceVersion = rv
		return jobs.Watch(ctx, o)
	}, "jobs")
	if err != nil {
		return err
	}
	return gone(func() (int, string, error) {
		l, err := pods.List(ctx, psel)
		if err != nil {
			return 0, "", err
		}
		return len(l.Items), l.ResourceVersion, nil
	}, func(rv string) (watch.Interface, error) {
		o := psel
		o.ResourceVersion = rv
		return pods.Watch(ctx, o)
	}, "pods")
}

// delete deletes the Job (with the UID precondition, so a newer Job of the
// same name is never hit); a missing Job is not an error.
func (b *Backend) delete(ctx context.Context, name string, uid types.UID, prop metav1.DeletionPropagation) error {
	err := b.cs.BatchV1().Jobs(b.cfg.Namespace).Delete(ctx, name, metav1.DeleteOptions{
		PropagationPolicy: &prop,
		Preconditions:     &metav1.Preconditions{UID: &uid},
	})
	if err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return b.apiError("delete", "jobs", err)
}

// apiError turns an API error into one line that says what to do: a
// missing namespace, a missing RBAC permission, an unreachable server.
func (b *Backend) apiError(verb, resource string, err error) error {
	ns := b.cfg.Namespace
	var se apierrors.APIStatus
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("kubernetes: RBAC: not allowed to %s %s in namespace %q (%s); bind a role like deploy/kubernetes/crossin-rbac.yaml", verb, resource, ns, oneLine(err.Error()))
	case apierrors.IsNotFound(err) && errors.As(err, &se) && se.Status().Details != nil && se.Status().Details.Kind == "namespaces":
		return fmt.Errorf("kubernetes: namespace %q does not exist; create it (kubectl create namespace %s, or deploy/kubernetes/crossin-rbac.yaml)", ns, ns)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("kubernetes: the API server refused our credentials (%s); check the kubeconfig and context", oneLine(err.Error()))
	}
	return fmt.Errorf("kubernetes: %s %s in namespace %q: %s", verb, resource, ns, oneLine(err.Error()))
}

var logMu sync.Mutex

func (b *Backend) logf(format string, args ...any) {
	if b.log == nil {
		return
	}
	logMu.Lock()
	defer logMu.Unlock()
	fmt.Fprintf(b.log, format, args...)
}

type lockedWriter struct{ b *Backend }

func (w *lockedWriter) Write(p []byte) (int, error) {
	logMu.Lock()
	defer logMu.Unlock()
	return w.b.log.Write(p)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
