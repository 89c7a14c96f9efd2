package oci

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ImageBinary is where the crossin binary lives inside the trainer image;
// it is also the image's entrypoint, so `IMAGE trainer run SPEC` works.
const ImageBinary = "/usr/local/bin/crossin"

// DefaultPlatforms are the platforms `crossin image build` targets.
var DefaultPlatforms = []v1.Platform{
	{OS: "linux", Architecture: "amd64"},
	{OS: "linux", Architecture: "arm64"},
}

// epoch is every timestamp in a built image: fixed, so that the same binary
// always gives the same layer, config and manifest digests.
var epoch = time.Unix(0, 0).UTC()

// Binary is one platform's crossin executable.
type Binary struct {
	Platform v1.Platform
	Path     string
}

// ParsePlatform parses "os/arch[/variant]".
func ParsePlatform(s string) (v1.Platform, error) {
	p := strings.Split(s, "/")
	if len(p) < 2 || len(p) > 3 || p[0] == "" || p[1] == "" {
		return v1.Platform{}, fmt.Errorf("platform %q: want OS/ARCH[/VARIANT], e.g. linux/amd64", s)
	}
	pl := v1.Platform{OS: p[0], Architecture: p[1]}
	if len(p) == 3 {
		pl.Variant = p[2]
	}
	return pl, nil
}

// CrossCompile builds the crossin command of the module in srcDir for each
// platform with CGO_ENABLED=0, -trimpath and an empty build id (the same
// source and toolchain give the same bytes) into outDir. version, if not
// empty, is stamped into cli.Version.
func CrossCompile(ctx context.Context, srcDir, outDir string, platforms []v1.Platform, version string) ([]Binary, error) {
	if _, err := os.Stat(filepath.Join(srcDir, "cmd", "crossin")); err != nil {
		return nil, fmt.Errorf("cross-compile: %s is not the crossin module root (no cmd/crossin): %w", srcDir, err)
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		// $GOROOT/bin/go, when GOROOT is set (the build machine's GOROOT
		// means nothing to a copied binary).
		if g := filepath.Join(os.Getenv("GOROOT"), "bin", "go"); os.Getenv("GOROOT") != "" && fileExists(g) {
			gobin = g
		} else {
			return nil, fmt.Errorf("cross-compile: no go toolchain on PATH (install Go, or pass prebuilt binaries with --binary OS/ARCH=PATH)")
		}
	}
	ldflags := "-s -w -buildid="
	if version != "" {
		ldflags += " -X github.com/crossin-lab/crossin/cli.Version=" + version
	}
	var out []Binary
	for _, p := range platforms {
		if p.OS != "linux" {
			return nil, fmt.Errorf("cross-compile: platform %s: trainer images are linux only", p)
		}
		dst := filepath.Join(outDir, "crossin-"+p.OS+"-"+p.Architecture+p.Variant)
		cmd := exec.CommandContext(ctx, gobin, "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", dst, "./cmd/crossin")
		cmd.Dir = srcDir
		env := append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture, "GOFLAGS=-buildvcs=false")
		if p.Architecture == "arm" && p.Variant != "" {
			env = append(env, "GOARM="+strings.TrimPrefix(p.Variant, "v"))
		}
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("cross-compile for %s: %w\n%s", p, err, stderr.String())
		}
		out = append(out, Binary{Platform: p, Path: dst})
	}
	return out, nil
}

// BuildIndex packages the binaries as a multi-platform OCI image index,
// ko-style: no base image, no container engine, one layer per platform
// holding the binary at ImageBinary plus /tmp and /job, every timestamp at
// the Unix epoch and owners root. The result depends only on the binaries'
// bytes and platforms, so rebuilding the same binary gives the same digest.
func BuildIndex(bins []Binary) (v1.ImageIndex, error) {
	if len(bins) == 0 {
		return nil, errors.New("image build: no binaries")
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	seen := map[string]bool{}
	for _, b := range bins {
		key := b.Platform.String()
		if seen[key] {
			return nil, fmt.Errorf("image build: platform %s given twice", key)
		}
		seen[key] = true
		img, err := buildImage(b)
		if err != nil {
			return nil, err
		}
		p := b.Platform
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{MediaType: types.OCIManifestSchema1, Platform: &p},
		})
	}
	return idx, nil
}

func buildImage(b Binary) (v1.Image, error) {
	data, err := os.ReadFile(b.Path)
	if err != nil {
		return nil, fmt.Errorf("image build: %w", err)
	}
	layerTar, err := binaryLayerTar(data)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("image build %s: %w", b.Platform, err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS = b.Platform.OS
	cf.Architecture = b.Platform.Architecture
	cf.Variant = b.Platform.Variant
	cf.Created = v1.Time{Time: epoch}
	cf.Config = v1.Config{
		Entrypoint: []string{ImageBinary},
		Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp"},
		WorkingDir: "/job",
		Labels:     map[string]string{"org.opencontainers.image.title": "crossin"},
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "crossin image build", Comment: "crossin binary"},
	})
	if err != nil {
		return nil, fmt.Errorf("image build %s: %w", b.Platform, err)
	}
	return img, nil
}

// binaryLayerTar is the one layer's tar: fixed order, modes, owners, times.
func binaryLayerTar(bin []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := []struct {
		name string
		mode int64
	}{{"job/", 0o755}, {"tmp/", 0o1777}, {"usr/", 0o755}, {"usr/local/", 0o755}, {"usr/local/bin/", 0o755}}
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d.name, Mode: d.mode, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(ImageBinary, "/"), Mode: 0o755, Size: int64(len(bin)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// PushIndex pushes idx to ref (a tag or a repository) and returns the pinned
// reference "registry/repository@sha256:...".
func (c *Client) PushIndex(ctx context.Context, ref string, idx v1.ImageIndex) (string, error) {
	r, err := c.ParseReference(ref)
	if err != nil {
		return "", err
	}
	if err := remote.WriteIndex(r, idx, c.remoteOptions(ctx)...); err != nil {
		return "", registryError("push", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return "", err
	}
	return r.Context().Digest(d.String()).String(), nil
}

// WriteLayout adds idx to the OCI image layout at dir (created if needed),
// named refName (org.opencontainers.image.ref.name), replacing an earlier
// image of that name. It returns the index digest.
func WriteLayout(dir string, idx v1.ImageIndex, refName string) (v1.Hash, error) {
	var p layout.Path
	var err error
	if fileExists(filepath.Join(dir, "index.json")) {
		p, err = layout.FromPath(dir)
	} else {
		p, err = layout.Write(dir, empty.Index)
	}
	if err != nil {
		return v1.Hash{}, fmt.Errorf("oci layout %s: %w", dir, err)
	}
	const key = "org.opencontainers.image.ref.name"
	if err := p.ReplaceIndex(idx, match.Annotation(key, refName), layout.WithAnnotations(map[string]string{key: refName})); err != nil {
		return v1.Hash{}, fmt.Errorf("oci layout %s: %w", dir, err)
	}
	return idx.Digest()
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil || !errors.Is(err, fs.ErrNotExist)
}
