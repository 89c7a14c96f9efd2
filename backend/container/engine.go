// Package container runs trainer jobs inside the pinned crossin trainer
// image with podman or docker, driven through their CLIs (os/exec), so no
// daemon API or SDK is needed and both engines behave the same way.
//
// Every job runs as `IMAGE trainer run /job/spec.json` in a fresh container
// named crossin-<random>: the model, adapter and data are bind-mounted
// read-only under /job, the output directory is the only writable mount
// (/job/out), the network is off unless the stage must download, and the
// container runs as the calling user so outputs are not root-owned. The
// container is always removed afterwards, and at once when the context is
// cancelled (`rm -f`). The engine's exit code and the container's output are
// kept for the error message.
package container

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Engine is one container engine CLI.
type Engine struct {
	Name     string // "podman" or "docker"
	Path     string // executable
	Rootless bool   // rootless podman: map the user with --userns=keep-id
}

// Detect finds a working engine. name ("podman", "docker", or a path to
// either) wins if given; else $CROSSIN_CONTAINER_ENGINE; else podman, then
// docker, whichever is on PATH and answers. A docker CLI without a daemon
// is skipped with its reason, so a leftover CLI does not hide podman.
func Detect(ctx context.Context, name string) (*Engine, error) {
	if name == "" {
		name = os.Getenv("CROSSIN_CONTAINER_ENGINE")
	}
	cands := []string{"podman", "docker"}
	if name != "" {
		cands = []string{name}
	}
	var reasons []string
	for _, c := range cands {
		p, err := exec.LookPath(c)
		if err != nil {
			reasons = append(reasons, fmt.Sprintf("%s: not found on PATH", c))
			continue
		}
		e := &Engine{Path: p, Name: engineName(p)}
		if err := e.probe(ctx); err != nil {
			reasons = append(reasons, fmt.Sprintf("%s: %v", p, err))
			continue
		}
		return e, nil
	}
	return nil, fmt.Errorf("no usable container engine (%s); install podman or docker, or set CROSSIN_CONTAINER_ENGINE", strings.Join(reasons, "; "))
}

func engineName(path string) string {
	base := path[strings.LastIndexByte(path, '/')+1:]
	if strings.Contains(base, "docker") {
		return "docker"
	}
	return "podman"
}

// probe checks the engine answers and learns whether podman is rootless.
func (e *Engine) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var format string
	if e.Name == "podman" {
		format = "{{.Host.Security.Rootless}}"
	} else {
		format = "{{.ServerVersion}}"
	}
	out, err := e.output(ctx, "info", "--format", format)
	if err != nil {
		return err
	}
	e.Rootless = e.Name == "podman" && strings.TrimSpace(out) == "true"
	return nil
}

// output runs the engine and returns stdout; errors carry stderr.
func (e *Engine) output(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, e.Path, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return stdout.String(), fmt.Errorf("%s %s: %s", e.Name, strings.Join(args[:min(2, len(args))], " "), msg)
	}
	return stdout.String(), nil
}

// RemoveArgs are the arguments that force-remove a container at once.
func (e *Engine) RemoveArgs(name string) []string {
	if e.Name == "podman" {
		return []string{"rm", "-f", "-t", "0", name}
	}
	return []string{"rm", "-f", name}
}

// Remove force-removes a container; a missing container is not an error.
func (e *Engine) Remove(ctx context.Context, name string) error {
	_, err := e.output(ctx, e.RemoveArgs(name)...)
	if err != nil && (strings.Contains(err.Error(), "no such container") || strings.Contains(err.Error(), "No such container")) {
		return nil
	}
	return err
}

// Exists reports whether a container with this name exists (any state).
func (e *Engine) Exists(ctx context.Context, name string) (bool, error) {
	out, err := e.output(ctx, "ps", "-a", "--filter", "name=^"+name+"$", "--format", "{{.Names}}")
	if err != nil {
		return false, err
	}
	for _, l := range strings.Fields(out) {
		if l == name {
			return true, nil
		}
	}
	return false, nil
}

// Pull fetches an image (by digest, normally) so that a missing image or an
// unreachable registry is reported before any job starts.
func (e *Engine) Pull(ctx context.Context, image string) error {
	args := []string{"pull"}
	if e.Name == "podman" {
		args = append(args, "-q")
	} else {
		args = append(args, "-q")
	}
	args = append(args, image)
	if _, err := e.output(ctx, args...); err != nil {
		return fmt.Errorf("pull %s: %w", image, err)
	}
	return nil
}

// GPUArgs are the engine's flags that expose all NVIDIA GPUs: docker's
// --gpus, podman's CDI device (needs nvidia-ctk cdi generate on the host).
func (e *Engine) GPUArgs() []string {
	if e.Name == "podman" {
		return []string{"--device", "nvidia.com/gpu=all"}
	}
	return []string{"--gpus", "all"}
}

var errNoManifest = errors.New("no manifest.json")
