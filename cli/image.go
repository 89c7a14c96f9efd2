package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/crossin-lab/crossin/backend/container"
	"github.com/crossin-lab/crossin/backend/kubernetes"
	"github.com/crossin-lab/crossin/backend/slurm"
	"github.com/crossin-lab/crossin/oci"
	"github.com/crossin-lab/crossin/schema"
	"github.com/crossin-lab/crossin/trainer"
)

// imageCmd is `crossin image`: build and resolve trainer images.
func imageCmd() *cobra.Command {
	g := &cobra.Command{Use: "image", Short: "Build and resolve crossin trainer images"}

	var (
		push, layoutDir, src, version, refName string
		trainerKind, base                      string
		platforms                              []string
		binaries                               []string
	)
	build := &cobra.Command{
		Use:   "build [--push REF | --layout DIR]",
		Short: "Package crossin as a reproducible multi-platform OCI image (no Docker needed)",
		Long: `build cross-compiles crossin (CGO_ENABLED=0, -trimpath) for each platform and
packages each binary as a one-layer OCI image with fixed timestamps, the way ko
does, so the same binary always gives the same digest. The image's entrypoint
is /usr/local/bin/crossin, so IMAGE trainer run /job/spec.json runs a job.
With --push it is pushed to a registry (Docker keychain; plain HTTP only for
localhost or $CROSSIN_INSECURE_REGISTRIES) and the pinned reference is
printed; with --layout it is added to an OCI image layout directory;
without either only the digest is printed.

With --trainer hf it builds the GPU trainer image instead: --base (pinned by
digest) must already hold the Python stack of trainers/hf/Containerfile's
first stage; the crossin binary and the trainer package (trainers/hf of the
source tree) are appended as reproducible layers, the entrypoint is
crossin-trainer-hf and the user is non-root. Platforms default to the base's
linux/amd64.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if push != "" && layoutDir != "" {
				return Usagef("image build: give --push or --layout, not both")
			}
			switch trainerKind {
			case schema.TrainerCrossin:
				if base != "" {
					return Usagef("image build: --base is for --trainer hf (the crossin image has no base)")
				}
			case schema.TrainerHF:
				if base == "" {
					return Usagef("image build --trainer hf: give --base NAME@sha256:... (an image with the trainer's Python stack)")
				}
				if !cmd.Flags().Changed("platform") {
					platforms = []string{"linux/amd64"}
				}
			default:
				return Usagef("image build: --trainer %q: want crossin or hf", trainerKind)
			}
			var bins []oci.Binary
			if len(binaries) > 0 {
				for _, b := range binaries {
					p, path, ok := strings.Cut(b, "=")
					if !ok {
						return Usagef("image build: --binary %q: want OS/ARCH=PATH", b)
					}
					pl, err := oci.ParsePlatform(p)
					if err != nil {
						return Usagef("image build: --binary: %v", err)
					}
					bins = append(bins, oci.Binary{Platform: pl, Path: path})
				}
			} else {
				var pls []v1.Platform
				for _, p := range platforms {
					pl, err := oci.ParsePlatform(p)
					if err != nil {
						return Usagef("image build: --platform: %v", err)
					}
					pls = append(pls, pl)
				}
				if src == "" {
					var err error
					if src, err = findModuleRoot(); err != nil {
						return err
					}
				}
				tmp, err := os.MkdirTemp("", "crossin-image-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(tmp)
				if bins, err = oci.CrossCompile(cmd.Context(), src, tmp, pls, version); err != nil {
					return err
				}
			}
			var idx v1.ImageIndex
			var err error
			if trainerKind == schema.TrainerHF {
				if src == "" {
					if src, err = findModuleRoot(); err != nil {
						return err
					}
				}
				idx, err = oci.NewClient().BuildHFTrainer(cmd.Context(), oci.HFTrainerSpec{
					Base: base, TrainerDir: filepath.Join(src, "trainers", "hf"), Binaries: bins})
			} else {
				idx, err = oci.BuildIndex(bins)
			}
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			switch {
			case push != "":
				pinned, err := oci.NewClient().PushIndex(cmd.Context(), push, idx)
				if err != nil {
					return err
				}
				fmt.Fprintln(w, pinned)
			case layoutDir != "":
				d, err := oci.WriteLayout(layoutDir, idx, refName)
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "%s %s\n", layoutDir, d)
			default:
				d, err := idx.Digest()
				if err != nil {
					return err
				}
				fmt.Fprintln(w, d)
			}
			return nil
		},
	}
	f := build.Flags()
	f.StringVar(&push, "push", "", "push to this reference (REGISTRY/REPO[:TAG])")
	f.StringVar(&layoutDir, "layout", "", "write into this OCI image layout directory")
	f.StringVar(&refName, "name", "latest", "with --layout: the image's ref name in the layout")
	f.StringSliceVar(&platforms, "platform", []string{"linux/amd64", "linux/arm64"}, "platforms to build")
	f.StringArrayVar(&binaries, "binary", nil, "use a prebuilt binary, OS/ARCH=PATH (repeatable; skips compiling)")
	f.StringVar(&src, "src", "", "crossin source tree to compile (default: the module containing the current directory)")
	f.StringVar(&version, "version", "", "version to stamp into the binary (default: devel)")
	f.StringVar(&trainerKind, "trainer", schema.TrainerCrossin, "which trainer image: crossin (the embedded engine) or hf (transformers + PEFT, needs --base)")
	f.StringVar(&base, "base", "", "with --trainer hf: the base image with the Python stack, pinned by digest")
	g.AddCommand(build)

	g.AddCommand(&cobra.Command{
		Use:   "resolve REF...",
		Short: "Print image references pinned to their digests",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := oci.NewClient()
			for _, r := range args {
				p, err := c.Resolve(cmd.Context(), r)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			return nil
		},
	})
	return g
}

// findModuleRoot walks up from the current directory to the crossin
// module's go.mod.
func findModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(data, []byte("module github.com/crossin-lab/crossin\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("image build: not inside the crossin source tree; pass --src DIR or --binary OS/ARCH=PATH")
		}
		dir = parent
	}
}

// BackendTrainers returns the trainers for the container and slurm
// backends of spec, keyed by backend kind as runner.Backends is: images are
// pinned through crossin.lock (refused when unpinned with --locked), the
// engine is the backend's runtime or whichever of podman/docker works, and
// Slurm jobs keep their scripts and logs under cacheDir/slurm (the cache
// directory must be shared with the nodes). With preflight, the registry
// and the engine are asked now whether every image exists, so a missing
// image or unreachable registry fails before any stage runs.
//
// runner.Backends has one trainer per kind, so two backends of one kind
// with different images or settings are refused here.
func BackendTrainers(ctx context.Context, spec *schema.Spec, cacheDir string, preflight bool) (map[string]trainer.Trainer, error) {
	out := map[string]trainer.Trainer{}
	seen := map[string]*schema.Backend{}
	l, err := oci.ReadLock(oci.LockPath(spec))
	if errors.Is(err, fs.ErrNotExist) {
		l, err = oci.NewLock(), nil
	}
	if err != nil {
		return nil, err
	}
	oc := oci.NewClient()
	for _, b := range spec.Backends {
		if b.Kind == schema.BackendK8s {
			if seen[b.Kind] != nil {
				return nil, fmt.Errorf("%s: backends %q and %q are both kubernetes backends; this build runs one kubernetes backend per spec", b.Pos, seen[b.Kind].Name, b.Name)
			}
			seen[b.Kind] = b
			kb, err := kubernetesBackend(ctx, oc, l, b, cacheDir, preflight)
			if err != nil {
				return nil, err
			}
			out[b.Kind] = kb
			continue
		}
		if b.Kind != schema.BackendContainer && b.Kind != schema.BackendSlurm {
			continue
		}
		if prev := seen[b.Kind]; prev != nil {
			if prev.Image != b.Image || prev.Runtime != b.Runtime || prev.GPUs != b.GPUs || prev.Trainer != b.Trainer || slurm.ResourcesFromSpec(prev).Partition != slurm.ResourcesFromSpec(b).Partition {
				return nil, fmt.Errorf("%s: backends %q and %q are both %s backends with different settings; this build runs one %s backend per spec", b.Pos, prev.Name, b.Name, b.Kind, b.Kind)
			}
			continue
		}
		seen[b.Kind] = b
		pinned, err := oc.PinImage(ctx, l, b.Image, lockedFlag)
		if err != nil {
			return nil, fmt.Errorf("backend %s: %w", b.Name, err)
		}
		eng, err := container.Detect(ctx, b.Runtime)
		if err != nil {
			return nil, fmt.Errorf("backend %s: %w", b.Name, err)
		}
		copts := []container.Option{container.WithGPUs(b.GPUs != "" && b.GPUs != "0")}
		if b.Trainer == schema.TrainerHF {
			// The HF trainer image's entrypoint is crossin-trainer-hf: it
			// takes the spec path alone.
			copts = append(copts, container.WithCommand())
		}
		ct, err := container.New(eng, pinned, copts...)
		if err != nil {
			return nil, err
		}
		if preflight {
			if err := oc.Preflight(ctx, pinned); err != nil {
				return nil, fmt.Errorf("backend %s: %w", b.Name, err)
			}
			if err := ct.Preflight(ctx); err != nil {
				return nil, fmt.Errorf("backend %s: %w", b.Name, err)
			}
		}
		if b.Kind == schema.BackendContainer {
			out[b.Kind] = ct
			continue
		}
		sb, err := slurm.New(slurm.Config{
			WorkDir:   filepath.Join(cacheDir, "slurm"),
			CacheDir:  cacheDir,
			Container: ct,
			Resources: slurm.ResourcesFromSpec(b),
		})
		if err != nil {
			return nil, err
		}
		if preflight {
			if err := sb.Preflight(ctx); err != nil {
				return nil, fmt.Errorf("backend %s: %w", b.Name, err)
			}
		}
		out[b.Kind] = sb
	}
	return out, nil
}

// kubernetesBackend connects to the cluster of a kubernetes backend (its
// kubeconfig and context, $KUBECONFIG, ~/.kube/config or the in-cluster
// service account) with its image pinned through crossin.lock; with
// preflight the registry, the namespace and the RBAC permissions are
// checked now.
func kubernetesBackend(ctx context.Context, oc *oci.Client, l *oci.Lock, b *schema.Backend, cacheDir string, preflight bool) (*kubernetes.Backend, error) {
	pinned, err := oc.PinImage(ctx, l, b.Image, lockedFlag)
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w", b.Name, err)
	}
	cfg, err := kubernetes.ConfigFromSpec(b, pinned, cacheDir)
	if err != nil {
		return nil, err
	}
	if b.Trainer == schema.TrainerHF {
		cfg.Command = []string{} // the GPU trainer's entrypoint takes the spec path alone
		cfg.Entrypoint = oci.HFEntrypoint
	}
	rc, err := kubernetes.RESTConfig(b.Kubeconfig, b.Context)
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w", b.Name, err)
	}
	kb, err := kubernetes.NewFromConfig(rc, cfg)
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w", b.Name, err)
	}
	if preflight {
		if err := oc.Preflight(ctx, pinned); err != nil {
			return nil, fmt.Errorf("backend %s: %w", b.Name, err)
		}
		if err := kb.Preflight(ctx); err != nil {
			return nil, fmt.Errorf("backend %s: %w", b.Name, err)
		}
	}
	return kb, nil
}
