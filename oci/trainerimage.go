package oci

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The GPU trainer image (trainers/hf) built without a Docker daemon: a base
// that already holds the Python stack (the first stage of
// trainers/hf/Containerfile, pushed once, or any image with the pinned
// versions), plus two reproducible layers: the crossin binary, and the
// trainer package with its entrypoint script. The trainer's own Python
// dependencies are the base's; nothing is installed at build or run time.
const (
	// HFTrainerDir is where the trainer package lives in the image.
	HFTrainerDir = "/opt/crossin-trainer-hf"
	// HFEntrypoint runs the trainer: `IMAGE /job/spec.json`.
	HFEntrypoint = "/usr/local/bin/crossin-trainer-hf"
	// hfUser is the unprivileged user the trainer runs as (numeric, so the
	// base needs no passwd entry).
	hfUser = "10001:10001"
)

// hfEntrypointScript starts the trainer with the base's python3.
const hfEntrypointScript = "#!/bin/sh\nexec python3 -m crossin_trainer_hf \"$@\"\n"

// HFTrainerSpec describes a GPU trainer image build.
type HFTrainerSpec struct {
	Base       string   // base image reference, pinned by digest (name@sha256:...)
	TrainerDir string   // the trainers/hf directory of the crossin source tree
	Binaries   []Binary // crossin for the platforms to build (those the base has)
}

// BuildHFTrainer builds the GPU trainer image index on spec.Base. The
// result depends only on the base's digest, the binaries and the trainer
// files: the same inputs give the same digest.
func (c *Client) BuildHFTrainer(ctx context.Context, spec HFTrainerSpec) (v1.ImageIndex, error) {
	if !strings.Contains(spec.Base, "@sha256:") {
		return nil, fmt.Errorf("image build --trainer hf: base %q is not pinned by digest (want NAME@sha256:...): a moving base would make the image irreproducible", spec.Base)
	}
	ref, err := c.ParseReference(spec.Base)
	if err != nil {
		return nil, err
	}
	desc, err := remote.Get(ref, c.remoteOptions(ctx)...)
	if err != nil {
		return nil, registryError("pull base", spec.Base, err)
	}
	trainerTar, err := trainerLayerTar(spec.TrainerDir)
	if err != nil {
		return nil, err
	}
	bases := map[string]v1.Image{}
	if desc.MediaType.IsIndex() {
		bidx, err := desc.ImageIndex()
		if err != nil {
			return nil, err
		}
		im, err := bidx.IndexManifest()
		if err != nil {
			return nil, err
		}
		for _, m := range im.Manifests {
			if m.Platform == nil {
				continue
			}
			img, err := bidx.Image(m.Digest)
			if err != nil {
				return nil, err
			}
			bases[platformKey(*m.Platform)] = img
		}
	} else {
		img, err := desc.Image()
		if err != nil {
			return nil, err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, err
		}
		bases[platformKey(v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant})] = img
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	built := 0
	for _, b := range spec.Binaries {
		base, ok := bases[platformKey(b.Platform)]
		if !ok {
			continue
		}
		img, err := hfImage(base, b, trainerTar)
		if err != nil {
			return nil, err
		}
		p := b.Platform
		mt, err := img.MediaType()
		if err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{MediaType: mt, Platform: &p}})
		built++
	}
	if built == 0 {
		var have []string
		for k := range bases {
			have = append(have, k)
		}
		sort.Strings(have)
		return nil, fmt.Errorf("image build --trainer hf: the base %s has none of the requested platforms (it has %s)", spec.Base, strings.Join(have, ", "))
	}
	return idx, nil
}

func platformKey(p v1.Platform) string {
	return p.OS + "/" + p.Architecture + strings.TrimSuffix("/"+p.Variant, "/")
}

func hfImage(base v1.Image, b Binary, trainerTar []byte) (v1.Image, error) {
	bin, err := os.ReadFile(b.Path)
	if err != nil {
		return nil, fmt.Errorf("image build: %w", err)
	}
	binTar, err := binaryLayerTar(bin)
	if err != nil {
		return nil, err
	}
	img := base
	for _, l := range []struct {
		data    []byte
		comment string
	}{{binTar, "crossin binary"}, {trainerTar, "crossin-trainer-hf"}} {
		data := l.data
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(data)), nil
		}, tarball.WithMediaType(types.OCILayer))
		if err != nil {
			return nil, err
		}
		if img, err = mutate.Append(img, mutate.Addendum{
			Layer: layer, MediaType: types.OCILayer,
			History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "crossin image build --trainer hf", Comment: l.comment},
		}); err != nil {
			return nil, err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: epoch}
	cfg := cf.Config
	cfg.Entrypoint = []string{HFEntrypoint}
	cfg.Cmd = nil
	cfg.User = hfUser
	cfg.WorkingDir = "/job"
	cfg.Env = setEnv(cfg.Env, map[string]string{
		"PYTHONPATH":              HFTrainerDir + "/src",
		"HOME":                    "/tmp",
		"HF_HUB_OFFLINE":          "1",
		"TRANSFORMERS_OFFLINE":    "1",
		"HF_DATASETS_OFFLINE":     "1",
		"CUBLAS_WORKSPACE_CONFIG": ":4096:8",
		"PYTHONUNBUFFERED":        "1",
		"PYTHONDONTWRITEBYTECODE": "1",
	})
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	cfg.Labels["org.opencontainers.image.title"] = "crossin-trainer-hf"
	cf.Config = cfg
	return mutate.ConfigFile(img, cf)
}

// setEnv sets the given variables in env (KEY=VALUE list), keeping order:
// replaced in place, new ones appended in key order.
func setEnv(env []string, set map[string]string) []string {
	out := make([]string, 0, len(env)+len(set))
	done := map[string]bool{}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if v, ok := set[k]; ok {
			out = append(out, k+"="+v)
			done[k] = true
			continue
		}
		out = append(out, kv)
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		if !done[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+set[k])
	}
	return out
}

// trainerLayerTar packs the trainer package (pyproject, src/, README,
// Containerfile; no tests, caches or bytecode) under HFTrainerDir and the
// entrypoint script, in a fixed order with fixed modes, owners and times.
func trainerLayerTar(dir string) ([]byte, error) {
	if _, err := os.Stat(filepath.Join(dir, "src", "crossin_trainer_hf", "__init__.py")); err != nil {
		return nil, fmt.Errorf("image build --trainer hf: %s is not the trainers/hf directory: %w", dir, err)
	}
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if d.Name() == "__pycache__" || d.Name() == "tests" || d.Name() == "bench" || strings.HasPrefix(d.Name(), ".") && rel != "." {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(rel, ".pyc") || !d.Type().IsRegular() {
			return nil
		}
		files = append(files, rel)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirsSeen := map[string]bool{}
	addDir := func(name string) error {
		for _, d := range parents(name) {
			if dirsSeen[d] {
				continue
			}
			dirsSeen[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
				return err
			}
		}
		return nil
	}
	addFile := func(name string, data []byte, mode int64) error {
		if err := addDir(path.Dir(name)); err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	root := strings.TrimPrefix(HFTrainerDir, "/")
	for _, rel := range files {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			return nil, err
		}
		if err := addFile(root+"/"+rel, data, 0o644); err != nil {
			return nil, err
		}
	}
	if err := addFile(strings.TrimPrefix(HFEntrypoint, "/"), []byte(hfEntrypointScript), 0o755); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// parents returns "a", "a/b", "a/b/c" for "a/b/c".
func parents(dir string) []string {
	if dir == "." || dir == "" {
		return nil
	}
	parts := strings.Split(dir, "/")
	out := make([]string, len(parts))
	for i := range parts {
		out[i] = strings.Join(parts[:i+1], "/")
	}
	return out
}
