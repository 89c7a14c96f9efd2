package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat's CPU times: 100 on
// every Linux architecture Go runs on.
const clockTicks = 100

// git runs git in the repository and returns its stdout.
func git(repo string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = repo
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("git %s: %v", strings.Join(args, " "), err)
	}
	return string(out), nil
}

// baselineBuild returns the binary and source tree of commit, building
// them once into the cache directory and reusing them after that.
func baselineBuild(repo, commit string) (binary, src, full string, err error) {
	out, err := git(repo, "rev-parse", "--verify", commit+"^{commit}")
	if err != nil {
		return "", "", "", err
	}
	full = strings.TrimSpace(out)
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", "", "", err
		}
		cache = filepath.Join(home, ".cache")
	}
	root := filepath.Join(cache, "crossin-bench", full)
	binary, src = filepath.Join(root, "crossin"), filepath.Join(root, "src")
	if _, err := os.Stat(binary); err == nil {
		return binary, src, full, nil
	}
	logf("bench-speed: building the baseline %s once into %s", full[:12], root)
	if err := os.RemoveAll(root); err != nil {
		return "", "", "", err
	}
	if err := os.MkdirAll(src, 0o777); err != nil {
		return "", "", "", err
	}
	archive := exec.Command("git", "archive", full)
	archive.Dir = repo
	archive.Stderr = os.Stderr
	tar := exec.Command("tar", "-x", "-C", src)
	tar.Stderr = os.Stderr
	if tar.Stdin, err = archive.StdoutPipe(); err != nil {
		return "", "", "", err
	}
	if err := archive.Start(); err != nil {
		return "", "", "", err
	}
	tarErr := tar.Run()
	if err := archive.Wait(); err != nil {
		return "", "", "", fmt.Errorf("git archive %s failed: %v", full, err)
	}
	if tarErr != nil {
		return "", "", "", fmt.Errorf("unpacking %s into %s: %v", full, src, tarErr)
	}
	build := exec.Command("go", "build", "-o", binary+".tmp", "./cmd/crossin")
	build.Dir, build.Stdout, build.Stderr = src, os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return "", "", "", fmt.Errorf("building the baseline %s: %v", full[:12], err)
	}
	return binary, src, full, os.Rename(binary+".tmp", binary)
}

// specDir makes parent/spec: a copy of tree's quickstart spec, with its
// data and assets linked.
func specDir(tree, parent string) (string, error) {
	d := filepath.Join(parent, "spec")
	if err := os.Mkdir(d, 0o777); err != nil {
		return "", err
	}
	text, err := os.ReadFile(filepath.Join(tree, specPath))
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(d, filepath.Base(specPath)), text, 0o666); err != nil {
		return "", err
	}
	for _, sub := range []string{"data", "assets"} {
		if err := os.Symlink(filepath.Join(tree, "experiments", sub), filepath.Join(d, sub)); err != nil {
			return "", err
		}
	}
	return d, nil
}

// timing is what wait4 says of one finished process.
type timing struct {
	rc     int
	wall   time.Duration
	cpu    float64 // user+sys seconds
	rssMiB float64 // peak resident set
}

// timed runs argv to completion and measures it with the rusage of
// wait4 (os.ProcessState.SysUsage): user+sys CPU time and ru_maxrss
// (KiB on Linux).
func timed(argv []string, env []string, stdout, stderr io.Writer) (timing, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, stdout, stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return timing{}, err
	}
	err := cmd.Wait()
	wall := time.Since(t0)
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return timing{}, err
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return timing{}, errors.New("no rusage from wait4")
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	return timing{rc: cmd.ProcessState.ExitCode(), wall: wall, cpu: cpu, rssMiB: float64(ru.Maxrss) / 1024}, nil
}

// cpuOf returns the user+sys seconds of a running process (/proc).
func cpuOf(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the name, want at least 13", pid, len(fields))
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %v", pid, err)
	}
	return float64(utime+stime) / clockTicks, nil
}

// loadavg is the machine's 1-minute load average (0 where unreadable).
func loadavg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// Edit is the timing of the one-cell edit in watch mode, or why it failed.
type Edit struct {
	Error   string  `json:"error,omitempty"`
	WallS   float64 `json:"wall_s"`
	CPUS    float64 `json:"cpu_s"`
	Latency string  `json:"latency"`
	Load    float64 `json:"load"`
	Reruns  int     `json:"reruns"`
}

// MarshalJSON writes only the error of a failed edit.
func (e Edit) MarshalJSON() ([]byte, error) {
	if e.Error != "" {
		return json.Marshal(struct {
			Error string `json:"error"`
		}{e.Error})
	}
	type plain Edit
	return json.Marshal(plain(e))
}

// watchEdit times a one-cell learning-rate edit in `crossin watch` on a
// warm cache: from an editor's save of the spec to the watcher's next
// fresh table, and the CPU time the watcher spent in between.
func watchEdit(binary string, env []string, spec, results string, timeout time.Duration) (Edit, error) {
	cmd := exec.Command(binary, "watch", "--json", "-o", results, filepath.Dir(spec))
	cmd.Env = env
	pr, pw, err := os.Pipe()
	if err != nil {
		return Edit{}, err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return Edit{}, err
	}
	pw.Close()
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() {
			_ = cmd.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		pr.Close()
	}()

	// next waits for the watcher's next fresh table.
	next := func() (map[string]any, error) {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		for {
			select {
			case <-timer.C:
				return nil, fmt.Errorf("no table from crossin watch within %ds", int(timeout.Seconds()))
			case line, open := <-lines:
				if !open {
					_ = cmd.Wait()
					return nil, fmt.Errorf("crossin watch exited (rc %d)", cmd.ProcessState.ExitCode())
				}
				if e, done, err := watchEvent(line); err != nil || done {
					return e, err
				}
			}
		}
	}

	if _, err := next(); err != nil {
		return Edit{}, err
	}
	time.Sleep(500 * time.Millisecond) // let the watcher settle on its inputs
	text, err := os.ReadFile(spec)
	if err != nil {
		return Edit{}, err
	}
	edited := fmt.Sprintf("%s\nexperiments: quickstart: cells: %q: training: learning_rate: %s\n", text, editCell, editLR)
	load := loadavg()
	cpu0, err := cpuOf(cmd.Process.Pid)
	if err != nil {
		return Edit{}, err
	}
	t0 := time.Now()
	// An editor's save: write a temporary file, rename it over the spec.
	if err := os.WriteFile(spec+".tmp", []byte(edited), 0o666); err != nil {
		return Edit{}, err
	}
	if err := os.Rename(spec+".tmp", spec); err != nil {
		return Edit{}, err
	}
	e, err := next()
	if err != nil {
		return Edit{}, err
	}
	wall := time.Since(t0)
	cpu1, err := cpuOf(cmd.Process.Pid)
	if err != nil {
		return Edit{}, err
	}
	latency, _ := e["latency"].(string)
	reruns, _ := e["reruns"].([]any)
	return Edit{WallS: round(wall.Seconds(), 2), CPUS: round(cpu1-cpu0, 2), Latency: latency,
		Load: round(load, 1), Reruns: len(reruns)}, nil
}
