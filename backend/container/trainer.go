package container

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/crossin-lab/crossin/trainer"
)

// Container-side layout of a job.
const (
	JobRoot       = "/job"
	SpecPath      = "/job/spec.json"
	ModelPath     = "/job/model"
	AdapterPath   = "/job/adapter"
	DataRoot      = "/job/data"
	OutputPath    = "/job/out"
	containerHome = "/tmp"
)

// Trainer runs trainer.JobSpecs in containers; it implements trainer.Trainer.
type Trainer struct {
	engine  *Engine
	image   string
	gpus    bool
	network bool
	command []string
	extra   []string
	log     io.Writer
	user    string
}

// Option configures a Trainer.
type Option func(*Trainer)

// WithGPUs exposes all GPUs to the container.
func WithGPUs(on bool) Option { return func(t *Trainer) { t.gpus = on } }

// WithNetwork keeps the default network (stages that download); otherwise
// containers run with --network=none.
func WithNetwork(on bool) Option { return func(t *Trainer) { t.network = on } }

// WithCommand replaces the arguments given to the image before the spec
// path (default: "trainer", "run"), for non-crossin trainer images that
// follow the contract with another entrypoint.
func WithCommand(args ...string) Option { return func(t *Trainer) { t.command = args } }

// WithExtraArgs adds engine `run` flags (e.g. --shm-size=8g).
func WithExtraArgs(args ...string) Option { return func(t *Trainer) { t.extra = args } }

// WithLog receives the container's stdout and stderr as they come.
func WithLog(w io.Writer) Option { return func(t *Trainer) { t.log = w } }

// WithUser sets the --user value (default: the calling uid:gid).
func WithUser(u string) Option { return func(t *Trainer) { t.user = u } }

// New returns a Trainer running image (which should be pinned by digest)
// on engine.
func New(engine *Engine, image string, opts ...Option) (*Trainer, error) {
	if engine == nil {
		return nil, errors.New("container trainer: no engine")
	}
	if image == "" {
		return nil, errors.New("container trainer: no image")
	}
	t := &Trainer{engine: engine, image: image, command: []string{"trainer", "run"}}
	for _, o := range opts {
		o(t)
	}
	return t, nil
}

// WithLog returns a copy of t that copies container output to w; the
// runner uses it to keep each stage's container output in its log.
func (t *Trainer) WithLog(w io.Writer) trainer.Trainer {
	c := *t
	c.log = w
	return &c
}

// Engine returns the trainer's engine.
func (t *Trainer) Engine() *Engine { return t.engine }

// Image returns the image the trainer runs.
func (t *Trainer) Image() string { return t.image }

// Preflight pulls the image, so that a missing image or an unreachable
// registry fails before any work starts, and removes orphaned containers
// of killed crossin processes (see ReapOrphans).
func (t *Trainer) Preflight(ctx context.Context) error {
	t.reap(ctx)
	return t.engine.Pull(ctx, t.image)
}

var reapOnce sync.Once

// reap runs ReapOrphans once per process, before the first job.
func (t *Trainer) reap(ctx context.Context) {
	reapOnce.Do(func() { t.engine.ReapOrphans(ctx) })
}

// Mount is one bind mount.
type Mount struct {
	Host, Container string
	ReadOnly        bool
}

func (m Mount) arg() string {
	mode := "rw"
	if m.ReadOnly {
		mode = "ro"
	}
	return m.Host + ":" + m.Container + ":" + mode
}

// Invocation is a job translated for the container: the container-side
// spec, the mounts and the full engine arguments.
type Invocation struct {
	Name     string
	Spec     *trainer.JobSpec // paths as seen inside the container
	SpecJSON []byte
	Mounts   []Mount
	Args     []string // engine arguments: run ... IMAGE trainer run /job/spec.json
}

// MapJob rewrites the host paths of job to container paths and returns the
// container-side spec and the mounts (the spec file itself not included).
// Host paths must be absolute.
func MapJob(job *trainer.JobSpec) (*trainer.JobSpec, []Mount, error) {
	if err := job.Validate(); err != nil {
		return nil, nil, err
	}
	c := *job
	var mounts []Mount
	abs := func(what, p string) (string, error) {
		if !filepath.IsAbs(p) {
			return "", fmt.Errorf("job spec: %s %q is not an absolute path", what, p)
		}
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("job spec: %s: %w", what, err)
		}
		if strings.ContainsAny(p, ",:") {
			return "", fmt.Errorf("job spec: %s %q contains ',' or ':', which bind mounts cannot express", what, p)
		}
		return filepath.Clean(p), nil
	}
	md, err := abs("model.dir", job.Model.Dir)
	if err != nil {
		return nil, nil, err
	}
	mounts = append(mounts, Mount{md, ModelPath, true})
	c.Model.Dir = ModelPath
	if job.Adapter != "" {
		ad, err := abs("adapter", job.Adapter)
		if err != nil {
			return nil, nil, err
		}
		mounts = append(mounts, Mount{ad, AdapterPath, true})
		c.Adapter = AdapterPath
	}
	c.Data = make([]string, len(job.Data))
	for i, d := range job.Data {
		hp, err := abs(fmt.Sprintf("data[%d]", i), d)
		if err != nil {
			return nil, nil, err
		}
		cp := path.Join(DataRoot, strconv.Itoa(i), filepath.Base(hp))
		mounts = append(mounts, Mount{hp, cp, true})
		c.Data[i] = cp
	}
	if !filepath.IsAbs(job.OutputDir) || strings.ContainsAny(job.OutputDir, ",:") {
		return nil, nil, fmt.Errorf("job spec: output_dir %q must be an absolute path without ',' or ':'", job.OutputDir)
	}
	mounts = append(mounts, Mount{filepath.Clean(job.OutputDir), OutputPath, false})
	c.OutputDir = OutputPath
	return &c, mounts, nil
}

// NewName returns a fresh container name "crossin-p<pid>-<8 hex>": the
// pid of this process, so that ReapOrphans in a later process can tell a
// container whose crossin was killed (-9, OOM) from one still in use.
func NewName() string {
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("crossin-p%d-%s", os.Getpid(), hex.EncodeToString(b[:]))
}

var ownedName = regexp.MustCompile(`^crossin-p([0-9]+)-[0-9a-f]{8}$`)

// ReapOrphans removes the containers of crossin processes on this host
// that no longer exist. A killed crossin cannot remove its container, and
// the container must not keep writing into an output directory that the
// next run resumes in. Containers of live processes, of Slurm jobs and of
// other tools are left alone. It returns the names removed.
func (e *Engine) ReapOrphans(ctx context.Context) ([]string, error) {
	out, err := e.output(ctx, "ps", "-a", "--filter", "name=^crossin-p", "--format", "{{.Names}}")
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, n := range strings.Fields(out) {
		m := ownedName.FindStringSubmatch(n)
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		if err := e.Remove(ctx, n); err != nil {
			return removed, err
		}
		removed = append(removed, n)
	}
	return removed, nil
}

// processAlive reports whether pid exists (signal 0; EPERM means it does).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Prepare builds the invocation of job in a container called name, with
// the container-side spec read from specHost (which the caller writes with
// inv.SpecJSON; the Slurm backend writes it onto the shared filesystem).
func (t *Trainer) Prepare(job *trainer.JobSpec, specHost, name string) (*Invocation, error) {
	cs, mounts, err := MapJob(job)
	if err != nil {
		return nil, err
	}
	js, err := json.MarshalIndent(cs, "", "  ")
	if err != nil {
		return nil, err
	}
	mounts = append([]Mount{{specHost, SpecPath, true}}, mounts...)
	args := []string{"run", "--name", name, "--pull=missing", "--workdir", JobRoot, "-e", "HOME=" + containerHome}
	if !t.network {
		args = append(args, "--network=none")
	}
	args = append(args, t.userArgs()...)
	if t.engine.Name == "podman" {
		// no SELinux relabelling of shared directories; a no-op elsewhere
		args = append(args, "--security-opt", "label=disable")
		// If crossin itself is killed (-9) mid-job, the container still
		// removes itself when it ends. Not for docker: `docker run --rm`
		// against podman's Docker API loses the exit code (podman#18889);
		// there crossin's own rm afterwards does the cleanup.
		args = append(args, "--rm")
	}
	if t.gpus {
		args = append(args, t.engine.GPUArgs()...)
	}
	if job.Threads > 0 {
		args = append(args, "-e", "GOMAXPROCS="+strconv.Itoa(job.Threads))
	}
	for _, m := range mounts {
		args = append(args, "-v", m.arg())
	}
	args = append(args, t.extra...)
	args = append(args, t.image)
	args = append(args, t.command...)
	args = append(args, SpecPath)
	return &Invocation{Name: name, Spec: cs, SpecJSON: append(js, '\n'), Mounts: mounts, Args: args}, nil
}

// userArgs map the container user to the caller: rootless podman keeps the
// caller's id with --userns=keep-id; otherwise --user uid:gid (root stays
// root, as on the host).
func (t *Trainer) userArgs() []string {
	if t.user != "" {
		return []string{"--user", t.user}
	}
	if t.engine.Rootless {
		return []string{"--userns=keep-id"}
	}
	if uid := os.Getuid(); uid != 0 {
		return []string{"--user", fmt.Sprintf("%d:%d", uid, os.Getgid())}
	}
	return nil
}

// ExitError is a container that ran and exited non-zero.
type ExitError struct {
	Name string
	Code int
	Tail string // last lines of the container's output
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("container %s exited with code %d:\n%s", e.Name, e.Code, e.Tail)
}

// Run implements trainer.Trainer: it runs job in a fresh container and
// returns the verified manifest of its output directory.
func (t *Trainer) Run(ctx context.Context, job *trainer.JobSpec, progress trainer.Progress) (*trainer.Manifest, error) {
	if err := job.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(job.OutputDir, 0o755); err != nil {
		return nil, err
	}
	specDir, err := os.MkdirTemp("", "crossin-job-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(specDir)
	name := NewName()
	specHost := filepath.Join(specDir, "spec.json")
	inv, err := t.Prepare(job, specHost, name)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(specHost, inv.SpecJSON, 0o644); err != nil {
		return nil, err
	}
	t.reap(ctx)
	if progress != nil {
		progress.Update(0, 0, "container "+name+" on "+t.engine.Name)
	}
	if err := t.run(ctx, inv, progress); err != nil {
		return nil, err
	}
	return ReadManifest(job)
}

// run starts the container in the foreground, removes it on cancel, and
// always removes it afterwards (podman's --rm aside, see Prepare).
func (t *Trainer) run(ctx context.Context, inv *Invocation, progress trainer.Progress) error {
	cmd := exec.Command(t.engine.Path, inv.Args...)
	tail := NewTailBuffer(16 << 10)
	ws := []io.Writer{tail}
	if t.log != nil {
		ws = append(ws, t.log)
	}
	if progress != nil {
		// the trainer's "progress {json}" lines (contract v2) drive the display
		ws = append(ws, trainer.ProgressWriter(progress))
	}
	w := io.MultiWriter(ws...)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", t.engine.Name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	cleanup := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		t.engine.Remove(rctx, inv.Name)
	}
	select {
	case err := <-done:
		cleanup()
		if err == nil {
			return nil
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return &ExitError{Name: inv.Name, Code: ee.ExitCode(), Tail: tail.String()}
		}
		return err
	case <-ctx.Done():
		cleanup() // kills the container, which ends the run command
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		return fmt.Errorf("container %s: %w", inv.Name, ctx.Err())
	}
}

// ReadManifest reads job's manifest.json from its output directory and
// checks it against the contract: version, kind, and the SHA-256 of every
// listed file. Backends that run a trainer elsewhere (containers, Slurm)
// call it so a missing or lying manifest is never accepted.
func ReadManifest(job *trainer.JobSpec) (*trainer.Manifest, error) {
	p := filepath.Join(job.OutputDir, trainer.ManifestFile)
	data, err := os.ReadFile(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("trainer finished but wrote no %s in %s: %w", trainer.ManifestFile, job.OutputDir, errNoManifest)
		}
		return nil, err
	}
	var m trainer.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if m.Contract != trainer.Contract {
		return nil, fmt.Errorf("%s: contract %q, want %q", p, m.Contract, trainer.Contract)
	}
	if m.Kind != job.Kind {
		return nil, fmt.Errorf("%s: kind %q, job is %q", p, m.Kind, job.Kind)
	}
	for rel, want := range m.Files {
		if !filepath.IsLocal(rel) {
			return nil, fmt.Errorf("%s: file %q is outside the output directory", p, rel)
		}
		got, err := trainer.FileSHA256(filepath.Join(job.OutputDir, filepath.FromSlash(rel)))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if got != want {
			return nil, fmt.Errorf("%s: %s has %s, manifest says %s", p, rel, got, want)
		}
	}
	return &m, nil
}

// TailBuffer keeps the last bytes written to it: the end of a trainer's
// output, for the one-line error of a failed job (the Kubernetes backend
// uses it for pod logs too).
type TailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

// NewTailBuffer keeps the last max bytes.
func NewTailBuffer(max int) *TailBuffer { return &TailBuffer{max: max} }

func (b *TailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = append([]byte(nil), b.buf[len(b.buf)-b.max:]...)
	}
	return len(p), nil
}

func (b *TailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(bytes.TrimSpace(b.buf))
}
