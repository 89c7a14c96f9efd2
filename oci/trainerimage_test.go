package oci

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// testRegistry is the real registry of .ci/services.sh.
func testRegistry(t *testing.T) string {
	t.Helper()
	reg := os.Getenv("CROSSIN_TEST_REGISTRY")
	if reg == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CROSSIN_TEST_REGISTRY is not set in CI (.ci/services.sh starts the registry)")
		}
		t.Skip("integration test: CROSSIN_TEST_REGISTRY not set (run .ci/services.sh and source .ci/services.env)")
	}
	return reg
}

// TestBuildHFTrainer builds the GPU trainer image on a stand-in base pushed
// to the real local registry: the result is reproducible (same inputs, same
// digest), carries the trainer package and the binary, runs as a non-root
// user through crossin-trainer-hf, and refuses a base not pinned by digest
// or without the wanted platform.
func TestBuildHFTrainer(t *testing.T) {
	reg := testRegistry(t)
	ctx := context.Background()
	c := NewClient()
	base, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := base.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Env = []string{"PATH=/opt/conda/bin:/usr/bin:/bin", "HOME=/root"}
	base, err = mutate.ConfigFile(base, cf)
	if err != nil {
		t.Fatal(err)
	}
	repo := reg + "/crossin-test/hf-base-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	ref, err := name.ParseReference(repo+":v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, base, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	d, _ := base.Digest()
	pinned := repo + "@" + d.String()

	bin := filepath.Join(t.TempDir(), "crossin")
	os.WriteFile(bin, []byte("#!/bin/sh\necho crossin\n"), 0o755)
	spec := HFTrainerSpec{Base: pinned, TrainerDir: "../trainers/hf", Binaries: []Binary{{Platform: v1.Platform{OS: "linux", Architecture: "amd64"}, Path: bin}}}
	idx1, err := c.BuildHFTrainer(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	idx2, err := c.BuildHFTrainer(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := idx1.Digest()
	d2, _ := idx2.Digest()
	if d1 != d2 {
		t.Fatalf("two builds of the same inputs: %s and %s", d1, d2)
	}
	im, _ := idx1.IndexManifest()
	if len(im.Manifests) != 1 || im.Manifests[0].Platform.Architecture != "amd64" {
		t.Fatalf("manifests %+v", im.Manifests)
	}
	img, err := idx1.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	icf, _ := img.ConfigFile()
	if !slices.Equal(icf.Config.Entrypoint, []string{HFEntrypoint}) || icf.Config.User != "10001:10001" {
		t.Errorf("entrypoint %v user %q", icf.Config.Entrypoint, icf.Config.User)
	}
	if !slices.Contains(icf.Config.Env, "PYTHONPATH="+HFTrainerDir+"/src") || !slices.Contains(icf.Config.Env, "PATH=/opt/conda/bin:/usr/bin:/bin") || !slices.Contains(icf.Config.Env, "HF_HUB_OFFLINE=1") {
		t.Errorf("env %v", icf.Config.Env)
	}
	layers, _ := img.Layers()
	if len(layers) != 4 { // 2 base + binary + trainer
		t.Fatalf("%d layers, want 4", len(layers))
	}
	files := layerFiles(t, layers[3])
	for _, want := range []string{"opt/crossin-trainer-hf/src/crossin_trainer_hf/train.py", "opt/crossin-trainer-hf/pyproject.toml", "usr/local/bin/crossin-trainer-hf"} {
		if _, ok := files[want]; !ok {
			t.Errorf("trainer layer lacks %s", want)
		}
	}
	for f := range files {
		if strings.Contains(f, "__pycache__") || strings.Contains(f, "/tests/") {
			t.Errorf("trainer layer holds %s", f)
		}
	}
	if files["usr/local/bin/crossin-trainer-hf"]&0o111 == 0 {
		t.Error("entrypoint is not executable")
	}
	if _, ok := layerFiles(t, layers[2])["usr/local/bin/crossin"]; !ok {
		t.Error("binary layer lacks usr/local/bin/crossin")
	}
	// Pushing gives the pinned reference of the same digest.
	out, err := c.PushIndex(ctx, repo+"-trainer:0.2", idx1)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out, "@"+d1.String()) {
		t.Errorf("pushed %s, want digest %s", out, d1)
	}
	// Refusals.
	if _, err := c.BuildHFTrainer(ctx, HFTrainerSpec{Base: repo + ":v1", TrainerDir: "../trainers/hf", Binaries: spec.Binaries}); err == nil || !strings.Contains(err.Error(), "not pinned by digest") {
		t.Errorf("tag base: %v", err)
	}
	arm := []Binary{{Platform: v1.Platform{OS: "linux", Architecture: "arm64"}, Path: bin}}
	if _, err := c.BuildHFTrainer(ctx, HFTrainerSpec{Base: pinned, TrainerDir: "../trainers/hf", Binaries: arm}); err == nil || !strings.Contains(err.Error(), "has none of the requested platforms (it has linux/amd64)") {
		t.Errorf("arm64 on an amd64 base: %v", err)
	}
	if _, err := c.BuildHFTrainer(ctx, HFTrainerSpec{Base: pinned, TrainerDir: t.TempDir(), Binaries: spec.Binaries}); err == nil || !strings.Contains(err.Error(), "not the trainers/hf directory") {
		t.Errorf("wrong trainer dir: %v", err)
	}
}

// layerFiles lists a layer's regular files with their modes.
func layerFiles(t *testing.T, l v1.Layer) map[string]int64 {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := map[string]int64{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			out[h.Name] = h.Mode
		}
	}
}
