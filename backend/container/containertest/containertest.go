// Package containertest holds helpers for integration tests that need real
// container services: it decides whether they are available and builds and
// pushes a small trainer image (faketrainer, or the real crossin binary)
// to the test registry.
package containertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/crossin-lab/crossin/backend/container"
	"github.com/crossin-lab/crossin/oci"
)

// Registry returns the test registry (host:port) from CROSSIN_TEST_REGISTRY,
// skipping the test when it is unset or with -short.
func Registry(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	r := os.Getenv("CROSSIN_TEST_REGISTRY")
	if r == "" {
		t.Skip("integration test: CROSSIN_TEST_REGISTRY not set (run .ci/services.sh and source .ci/services.env)")
	}
	return r
}

// Engine returns a working container engine, skipping the test unless
// CROSSIN_TEST_PODMAN is set (or with -short).
func Engine(t testing.TB) *container.Engine {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	if os.Getenv("CROSSIN_TEST_PODMAN") == "" {
		t.Skip("integration test: CROSSIN_TEST_PODMAN not set (run .ci/services.sh and source .ci/services.env)")
	}
	e, err := container.Detect(context.Background(), "")
	if err != nil {
		t.Fatalf("CROSSIN_TEST_PODMAN is set but: %v", err)
	}
	return e
}

// RepoRoot returns the module root (the directory holding go.mod).
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

var (
	fakeOnce   sync.Once
	fakeImage  string
	fakeBinary string
	fakeErr    error
)

// FakeTrainer builds faketrainer for the host (Linux) and returns its path;
// tests run it directly to get the reference outputs.
func FakeTrainer(t testing.TB) string {
	t.Helper()
	build(t)
	return fakeBinary
}

// FakeTrainerImage builds faketrainer, packages it with oci.BuildIndex as a
// one-platform image and pushes it to the test registry; it returns the
// pinned reference. Built once per test binary.
func FakeTrainerImage(t testing.TB) string {
	t.Helper()
	reg := Registry(t)
	build(t)
	if fakeErr != nil {
		t.Fatal(fakeErr)
	}
	fakeOnceImage.Do(func() {
		idx, err := oci.BuildIndex([]oci.Binary{{Platform: v1.Platform{OS: "linux", Architecture: runtime.GOARCH}, Path: fakeBinary}})
		if err != nil {
			fakeErr = err
			return
		}
		fakeImage, fakeErr = oci.NewClient().PushIndex(context.Background(), reg+"/crossin-test/faketrainer:latest", idx)
	})
	if fakeErr != nil {
		t.Fatal(fakeErr)
	}
	return fakeImage
}

var fakeOnceImage sync.Once

func build(t testing.TB) {
	fakeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "faketrainer-")
		if err != nil {
			fakeErr = err
			return
		}
		fakeBinary = filepath.Join(dir, "crossin")
		cmd := exec.Command("go", "build", "-trimpath", "-o", fakeBinary, "./backend/container/containertest/faketrainer")
		cmd.Dir = RepoRoot(t)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if out, err := cmd.CombinedOutput(); err != nil {
			fakeErr = &buildError{out: string(out), err: err}
		}
	})
	if fakeErr != nil {
		t.Fatal(fakeErr)
	}
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return "building faketrainer: " + e.err.Error() + "\n" + e.out }
