// Package slurm runs trainer jobs as Slurm batch jobs. Each job is an
// sbatch script on a shared filesystem that either runs the pinned trainer
// image with podman/docker (through a wrapper that removes the container
// when the job is cancelled: conmon escapes the job's process tree, so
// scancel alone would leave it running) or runs a crossin binary present on
// the nodes. Dependencies between stages become --dependency=afterok with
// --kill-on-invalid-dep=yes, so a failed stage cancels its dependents
// instead of leaving them pending forever; same-shaped jobs of a grid can
// be submitted as one job array. Jobs are followed with
// `scontrol show job -o` (sacct needs accounting, which many sites and
// test clusters lack).
package slurm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/crossin-lab/crossin/backend/container"
	"github.com/crossin-lab/crossin/trainer"
)

// Resources are a job's Slurm allocation; empty fields use the site default.
type Resources struct {
	Partition string   // --partition
	Gres      string   // --gres, e.g. gpu:1
	Time      string   // --time, e.g. 02:00:00
	Mem       string   // --mem, e.g. 16G
	CPUs      int      // --cpus-per-task
	Account   string   // --account
	QOS       string   // --qos
	Extra     []string // more sbatch flags, verbatim
}

func (r Resources) directives() []string {
	var d []string
	add := func(flag, v string) {
		if v != "" {
			d = append(d, "--"+flag+"="+v)
		}
	}
	add("partition", r.Partition)
	add("gres", r.Gres)
	add("time", r.Time)
	add("mem", r.Mem)
	if r.CPUs > 0 {
		add("cpus-per-task", strconv.Itoa(r.CPUs))
	}
	add("account", r.Account)
	add("qos", r.QOS)
	return append(d, r.Extra...)
}

func (r Resources) key() string { return strings.Join(r.directives(), "\x00") }

// Config configures a Backend.
type Config struct {
	// WorkDir holds job scripts, container-side specs and job logs. It
	// must be on a filesystem shared by the submit host and the nodes.
	WorkDir string
	// CacheDir, if set, is exported to jobs as CROSSIN_CACHE (a shared
	// cache directory; binary mode).
	CacheDir string
	// Container runs jobs in the pinned image; nil runs Binary directly.
	Container *container.Trainer
	// Binary is the crossin executable on the nodes (binary mode);
	// default: this process's executable.
	Binary string
	// Resources are the default allocation of every job.
	Resources Resources
	// ResourcesFor, if set, gives a job's allocation (e.g. from the spec's
	// stage settings); it overrides Resources.
	ResourcesFor func(*trainer.JobSpec) Resources
	// Poll is the interval between scontrol queries (default 1s).
	Poll time.Duration
	// Commands, for tests and odd installations; default from PATH.
	Sbatch, Scontrol, Scancel, Squeue string
}

// Backend submits and follows Slurm jobs. It implements trainer.Trainer
// (one job at a time) and DAGSubmitter (a whole graph at once).
type Backend struct {
	cfg Config
	log io.Writer
}

// WithLog returns a copy of b that copies each finished job's Slurm log
// (the trainer's and container's output) to w.
func (b *Backend) WithLog(w io.Writer) trainer.Trainer {
	c := *b
	c.log = w
	return &c
}

// New checks cfg and returns a Backend.
func New(cfg Config) (*Backend, error) {
	if cfg.WorkDir == "" {
		return nil, errors.New("slurm: no work directory (it must be on a filesystem the nodes share)")
	}
	wd, err := filepath.Abs(cfg.WorkDir)
	if err != nil {
		return nil, err
	}
	cfg.WorkDir = wd
	for _, d := range []string{"jobs", "logs"} {
		if err := os.MkdirAll(filepath.Join(wd, d), 0o755); err != nil {
			return nil, fmt.Errorf("slurm: %w", err)
		}
	}
	if cfg.Container == nil && cfg.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("slurm: no crossin binary for the nodes: %w", err)
		}
		cfg.Binary = exe
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Sbatch == "" {
		cfg.Sbatch = "sbatch"
	}
	if cfg.Scontrol == "" {
		cfg.Scontrol = "scontrol"
	}
	if cfg.Scancel == "" {
		cfg.Scancel = "scancel"
	}
	if cfg.Squeue == "" {
		cfg.Squeue = "squeue"
	}
	return &Backend{cfg: cfg}, nil
}

// Preflight checks that Slurm answers and, in container mode, that the
// image can be pulled here, before anything is submitted.
func (b *Backend) Preflight(ctx context.Context) error {
	if _, err := b.command(ctx, b.cfg.Scontrol, "ping"); err != nil {
		return fmt.Errorf("slurm: controller not reachable: %w", err)
	}
	if b.cfg.Container != nil {
		return b.cfg.Container.Preflight(ctx)
	}
	return nil
}

// Node is one job of a graph.
type Node struct {
	ID    string           // unique within the graph (the stage name)
	Job   *trainer.JobSpec // host paths (shared filesystem)
	After []string         // IDs of nodes that must succeed first
	// Array groups nodes into one job array: nodes with the same non-empty
	// Array, the same After set and the same resources are submitted with a
	// single sbatch --array (a grid's train stages, for instance).
	Array string
}

// Submission maps each node to its Slurm job id ("123", or "123_4" for an
// array task).
type Submission struct {
	JobIDs map[string]string
	order  []string
	logs   map[string]string
	cont   map[string]string // node -> container name pattern
}

// JobID returns the Slurm id of a node.
func (s *Submission) JobID(node string) string { return s.JobIDs[node] }

// LogPath returns the host path of a node's job log.
func (s *Submission) LogPath(node string) string { return s.logs[node] }

// DAGSubmitter is what an executor can use, optionally, to hand a whole
// plan to the scheduler at once instead of one Run per stage.
type DAGSubmitter interface {
	Submit(ctx context.Context, nodes []Node) (*Submission, error)
	Wait(ctx context.Context, s *Submission) (map[string]Result, error)
	Cancel(ctx context.Context, s *Submission) error
}

var _ DAGSubmitter = (*Backend)(nil)
var _ trainer.Trainer = (*Backend)(nil)

// Run implements trainer.Trainer: it submits job, waits for it, cancels it
// (and its container) if ctx ends, and returns the verified manifest.
func (b *Backend) Run(ctx context.Context, job *trainer.JobSpec, progress trainer.Progress) (*trainer.Manifest, error) {
	sub, err := b.Submit(ctx, []Node{{ID: "job", Job: job}})
	if err != nil {
		return nil, err
	}
	if progress != nil {
		progress.Update(0, 0, "slurm job "+sub.JobID("job"))
	}
	res, err := b.Wait(ctx, sub)
	if err != nil {
		return nil, err
	}
	r := res["job"]
	if b.log != nil {
		if f, err := os.Open(r.Log); err == nil {
			fmt.Fprintf(b.log, "== slurm job %s (%s), log %s\n", r.JobID, r.State, r.Log)
			io.Copy(b.log, f)
			f.Close()
		}
	}
	if r.State != "COMPLETED" {
		return nil, r.Err()
	}
	return container.ReadManifest(job)
}

// Submit writes one script per job (or per array) and submits the graph in
// dependency order, each job with --dependency=afterok on its
// predecessors' ids and --kill-on-invalid-dep=yes. On failure it cancels
// what it already submitted.
func (b *Backend) Submit(ctx context.Context, nodes []Node) (*Submission, error) {
	groups, err := b.group(nodes)
	if err != nil {
		return nil, err
	}
	sub := &Submission{JobIDs: map[string]string{}, logs: map[string]string{}, cont: map[string]string{}}
	for _, g := range groups {
		if err := b.submitGroup(ctx, g, sub); err != nil {
			b.Cancel(context.WithoutCancel(ctx), sub)
			return nil, err
		}
	}
	return sub, nil
}

// group orders the nodes topologically and merges array groups.
func (b *Backend) group(nodes []Node) ([][]Node, error) {
	byID := map[string]*Node{}
	for i := range nodes {
		n := &nodes[i]
		if n.ID == "" || strings.ContainsAny(n.ID, " \t\n/") {
			return nil, fmt.Errorf("slurm: bad node id %q", n.ID)
		}
		if _, dup := byID[n.ID]; dup {
			return nil, fmt.Errorf("slurm: node %q given twice", n.ID)
		}
		if n.Job == nil {
			return nil, fmt.Errorf("slurm: node %q has no job", n.ID)
		}
		if err := n.Job.Validate(); err != nil {
			return nil, fmt.Errorf("slurm: node %q: %w", n.ID, err)
		}
		byID[n.ID] = n
	}
	for _, n := range nodes {
		for _, a := range n.After {
			if byID[a] == nil {
				return nil, fmt.Errorf("slurm: node %q depends on unknown node %q", n.ID, a)
			}
		}
	}
	// Kahn's algorithm in input order (deterministic scripts and ids).
	done := map[string]bool{}
	var out [][]Node
	remaining := append([]Node(nil), nodes...)
	for len(remaining) > 0 {
		var ready, wait []Node
		for _, n := range remaining {
			ok := true
			for _, a := range n.After {
				if !done[a] {
					ok = false
				}
			}
			if ok {
				ready = append(ready, n)
			} else {
				wait = append(wait, n)
			}
		}
		if len(ready) == 0 {
			return nil, fmt.Errorf("slurm: dependency cycle among %d nodes (e.g. %q)", len(wait), wait[0].ID)
		}
		idx := map[string]int{}
		for _, n := range ready {
			key := ""
			if n.Array != "" {
				after := append([]string(nil), n.After...)
				sort.Strings(after)
				key = n.Array + "\x01" + strings.Join(after, ",") + "\x01" + b.resources(n.Job).key()
			}
			if i, ok := idx[key]; ok && key != "" {
				out[i] = append(out[i], n)
			} else {
				idx[key] = len(out)
				out = append(out, []Node{n})
			}
		}
		for _, n := range ready {
			done[n.ID] = true
		}
		remaining = wait
	}
	return out, nil
}

func (b *Backend) resources(job *trainer.JobSpec) Resources {
	if b.cfg.ResourcesFor != nil {
		return b.cfg.ResourcesFor(job)
	}
	return b.cfg.Resources
}

func (b *Backend) submitGroup(ctx context.Context, g []Node, sub *Submission) error {
	dir, err := os.MkdirTemp(filepath.Join(b.cfg.WorkDir, "jobs"), safeName(g[0].ID)+"-")
	if err != nil {
		return err
	}
	array := len(g) > 1 || g[0].Array != ""
	var bodies []string
	for i, n := range g {
		body, err := b.jobBody(n.Job, dir, i)
		if err != nil {
			return fmt.Errorf("slurm: node %q: %w", n.ID, err)
		}
		bodies = append(bodies, body)
	}
	name := "crossin-" + safeName(g[0].ID)
	logPattern := filepath.Join(b.cfg.WorkDir, "logs", "%x-%j.out")
	if array {
		logPattern = filepath.Join(b.cfg.WorkDir, "logs", "%x-%A_%a.out")
	}
	var deps []string
	for _, n := range g {
		for _, a := range n.After {
			deps = append(deps, sub.JobIDs[a])
		}
	}
	deps = uniqSorted(deps)
	script := b.script(name, logPattern, b.resources(g[0].Job), bodies, array)
	sp := filepath.Join(dir, "job.sh")
	if err := os.WriteFile(sp, []byte(script), 0o755); err != nil {
		return err
	}
	tags := make([]string, len(g))
	for i, n := range g {
		tags[i] = outputTag(n.Job.OutputDir)
	}
	if err := b.cancelStale(ctx, tags); err != nil {
		return err
	}
	args := []string{"--parsable", "--comment=" + commentPrefix + strings.Join(tags, ",")}
	if array {
		args = append(args, fmt.Sprintf("--array=0-%d", len(g)-1))
	}
	if len(deps) > 0 {
		args = append(args, "--dependency=afterok:"+strings.Join(deps, ":"), "--kill-on-invalid-dep=yes")
	}
	args = append(args, sp)
	out, err := b.command(ctx, b.cfg.Sbatch, args...)
	if err != nil {
		return fmt.Errorf("slurm: sbatch %s: %w", g[0].ID, err)
	}
	id := strings.TrimSpace(out)
	if i := strings.IndexByte(id, ';'); i >= 0 { // "id;cluster"
		id = id[:i]
	}
	if _, err := strconv.Atoi(id); err != nil {
		return fmt.Errorf("slurm: sbatch %s: unexpected output %q", g[0].ID, out)
	}
	for i, n := range g {
		jid := id
		lp := strings.NewReplacer("%x", name, "%j", id).Replace(logPattern)
		if array {
			jid = id + "_" + strconv.Itoa(i)
			lp = strings.NewReplacer("%x", name, "%A", id, "%a", strconv.Itoa(i)).Replace(logPattern)
		}
		sub.JobIDs[n.ID] = jid
		sub.logs[n.ID] = lp
		sub.order = append(sub.order, n.ID)
		if b.cfg.Container != nil {
			sub.cont[n.ID] = "crossin-" + jid
		}
	}
	return nil
}

// commentPrefix marks crossin's jobs; the comment lists a tag per output
// directory the job writes.
const commentPrefix = "crossin:"

// outputTag identifies an output directory in a job comment.
func outputTag(dir string) string {
	h := sha256.Sum256([]byte(filepath.Clean(dir)))
	return hex.EncodeToString(h[:8])
}

// cancelStale cancels, and waits out, queued or running crossin jobs that
// write one of the output directories tagged: jobs left by a crossin that
// was killed (-9) keep running under Slurm, and must not write into a
// directory that this submission resumes in.
func (b *Backend) cancelStale(ctx context.Context, tags []string) error {
	want := map[string]bool{}
	for _, t := range tags {
		want[t] = true
	}
	out, err := b.command(ctx, b.cfg.Squeue, "-h", "-t", "PENDING,RUNNING,CONFIGURING,COMPLETING,SUSPENDED,REQUEUED", "-o", "%A|%k")
	if err != nil {
		return fmt.Errorf("slurm: looking for stale jobs: %w", err)
	}
	var stale []string
	for _, line := range strings.Split(out, "\n") {
		id, comment, ok := strings.Cut(strings.TrimSpace(line), "|")
		if !ok || !strings.HasPrefix(comment, commentPrefix) {
			continue
		}
		for _, t := range strings.Split(strings.TrimPrefix(comment, commentPrefix), ",") {
			if want[t] {
				stale = append(stale, id)
				break
			}
		}
	}
	if len(stale) == 0 {
		return nil
	}
	stale = uniqSorted(stale)
	if _, err := b.command(ctx, b.cfg.Scancel, stale...); err != nil {
		return fmt.Errorf("slurm: cancelling stale jobs %s: %w", strings.Join(stale, ","), err)
	}
	for end := time.Now().Add(time.Minute); time.Now().Before(end); {
		out, err := b.command(ctx, b.cfg.Squeue, "-h", "-t", "PENDING,RUNNING,CONFIGURING,COMPLETING,SUSPENDED", "-j", strings.Join(stale, ","), "-o", "%A")
		if err == nil && strings.TrimSpace(out) == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("slurm: stale jobs %s writing the same outputs did not end within a minute of scancel", strings.Join(stale, ","))
}

// jobBody writes the job's spec(s) into dir and returns the shell commands
// that run it.
func (b *Backend) jobBody(job *trainer.JobSpec, dir string, i int) (string, error) {
	if err := os.MkdirAll(job.OutputDir, 0o755); err != nil {
		return "", err
	}
	spec := filepath.Join(dir, fmt.Sprintf("spec-%d.json", i))
	if b.cfg.Container == nil {
		data, err := jsonIndent(job)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(spec, data, 0o644); err != nil {
			return "", err
		}
		return "exec " + shellQuote(b.cfg.Binary) + " trainer run " + shellQuote(spec), nil
	}
	inv, err := b.cfg.Container.Prepare(job, spec, "__NAME__")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(spec, inv.SpecJSON, 0o644); err != nil {
		return "", err
	}
	var q []string
	for _, a := range inv.Args[1:] { // drop "run"
		if a == "--rm" {
			continue // the script reads the logs after the container ends, then removes it
		}
		if a == "__NAME__" {
			q = append(q, `"$name"`)
		} else {
			q = append(q, shellQuote(a))
		}
	}
	return "run_container " + strings.Join(q, " "), nil
}

// script renders the batch script. In container mode, run_container starts
// the container detached, waits for it with the wait builtin (so the TERM
// trap fires at once on scancel), prints its logs into the job log and
// removes it; on TERM/INT it force-removes the container.
func (b *Backend) script(name, log string, r Resources, bodies []string, array bool) string {
	var s strings.Builder
	s.WriteString("#!/bin/bash\n")
	fmt.Fprintf(&s, "#SBATCH --job-name=%s\n#SBATCH --output=%s\n", name, log)
	for _, d := range r.directives() {
		fmt.Fprintf(&s, "#SBATCH %s\n", d)
	}
	s.WriteString("# generated by crossin (backend/slurm); one crossin trainer job per task\nset -u\n")
	if b.cfg.CacheDir != "" {
		fmt.Fprintf(&s, "export CROSSIN_CACHE=%s\n", shellQuote(b.cfg.CacheDir))
	}
	if e := b.cfg.Container; e != nil {
		eng := shellQuote(e.Engine().Path)
		rm := strings.Join(quoteAll(e.Engine().RemoveArgs("__N__")), " ")
		rm = strings.ReplaceAll(rm, "'__N__'", `"$name"`)
		rm = strings.ReplaceAll(rm, "__N__", `"$name"`)
		s.WriteString("if [ -n \"${SLURM_ARRAY_JOB_ID:-}\" ]; then name=crossin-${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}; else name=crossin-${SLURM_JOB_ID}; fi\n")
		fmt.Fprintf(&s, "cleanup() { %s %s >/dev/null 2>&1; }\n", eng, rm)
		s.WriteString("trap 'cleanup; exit 143' TERM INT\n")
		fmt.Fprintf(&s, "run_container() {\n  %s run -d \"$@\" >/dev/null || exit 125\n", eng)
		s.WriteString("  rcf=$(mktemp)\n")
		fmt.Fprintf(&s, "  %s wait \"$name\" >\"$rcf\" &\n  wait $!\n", eng)
		s.WriteString("  rc=$(tr -dc 0-9 <\"$rcf\"); rm -f \"$rcf\"\n")
		fmt.Fprintf(&s, "  %s logs \"$name\" 2>&1\n", eng)
		s.WriteString("  cleanup\n  exit \"${rc:-125}\"\n}\n")
	}
	if array {
		s.WriteString("case \"$SLURM_ARRAY_TASK_ID\" in\n")
		for i, body := range bodies {
			fmt.Fprintf(&s, "%d)\n  %s\n  ;;\n", i, body)
		}
		s.WriteString("*) echo \"crossin: no task $SLURM_ARRAY_TASK_ID\" >&2; exit 2;;\nesac\n")
	} else {
		s.WriteString(bodies[0] + "\n")
	}
	return s.String()
}

// command runs a Slurm command and returns stdout; errors carry stderr.
func (b *Backend) command(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return stdout.String(), fmt.Errorf("%s: %s", filepath.Base(name), msg)
	}
	return stdout.String(), nil
}

func jsonIndent(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := newJSONEncoder(&buf)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func safeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() > 40 {
		return b.String()[:40]
	}
	return b.String()
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,@+%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func quoteAll(in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = shellQuote(s)
	}
	return out
}

func uniqSorted(in []string) []string {
	sort.Strings(in)
	var out []string
	for i, s := range in {
		if i == 0 || s != in[i-1] {
			out = append(out, s)
		}
	}
	return out
}
