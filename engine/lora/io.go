package lora

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"

	"github.com/crossin-lab/crossin/atomicfile"
	"github.com/crossin-lab/crossin/engine/safetensors"
)

// File names of a PEFT adapter directory.
const (
	ConfigFile  = "adapter_config.json"
	WeightsFile = "adapter_model.safetensors"
)

// nameRE matches PEFT's LoRA tensor names, with or without the adapter
// name peft uses in memory ("lora_A.default.weight"), which is how
// named_parameters() spells them (the reference gradient files use it).
var nameRE = regexp.MustCompile(`^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.([a-z_]+)\.lora_([AB])(?:\.[A-Za-z0-9_-]+)?\.weight$`)

// ParseTensorName splits a PEFT LoRA tensor name into layer, module and
// "A"/"B".
func ParseTensorName(name string) (layer int, module, which string, ok bool) {
	m := nameRE.FindStringSubmatch(name)
	if m == nil {
		return 0, "", "", false
	}
	l, err := strconv.Atoi(m[1])
	if err != nil {
		return 0, "", "", false
	}
	p, err := ModulePath(m[3])
	if err != nil || p != m[2]+"."+m[3] {
		return 0, "", "", false
	}
	return l, m[3], m[4], true
}

// Tensors returns the adapter's tensors under PEFT's saved names.
func (a *Adapter) Tensors() []safetensors.Tensor {
	var ts []safetensors.Tensor
	for _, p := range a.Pairs {
		ts = append(ts,
			safetensors.F32Tensor(TensorName(p.Layer, p.Module, "A"), []int{a.Config.R, p.In}, p.A),
			safetensors.F32Tensor(TensorName(p.Layer, p.Module, "B"), []int{p.Out, a.Config.R}, p.B))
	}
	for _, f := range a.Saved {
		ts = append(ts, safetensors.F32Tensor(FullName(f.Module), []int{f.Rows, f.Cols}, f.W))
	}
	return ts
}

// Save writes adapter_config.json and adapter_model.safetensors into dir
// (created if needed), each atomically. The safetensors metadata is peft's
// {"format": "pt"}.
func (a *Adapter) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cfg, err := MarshalConfig(a.Config)
	if err != nil {
		return err
	}
	if err := safetensors.WriteFile(filepath.Join(dir, WeightsFile), a.Tensors(), map[string]string{"format": "pt"}); err != nil {
		return err
	}
	return atomicfile.WriteFunc(filepath.Join(dir, ConfigFile), 0o644, func(w io.Writer) error {
		_, err := w.Write(cfg)
		return err
	})
}

// Load reads a PEFT adapter directory. Every LoRA tensor must have the
// configured rank and come in A/B pairs; names that are not LoRA pairs of a
// Llama projection are an error, so a file for another architecture is not
// half-applied.
func Load(dir string) (*Adapter, error) {
	cpath := filepath.Join(dir, ConfigFile)
	data, err := os.ReadFile(cpath)
	if err != nil {
		return nil, fmt.Errorf("lora: %w", err)
	}
	cfg, err := ParseConfig(data, cpath)
	if err != nil {
		return nil, err
	}
	wpath := filepath.Join(dir, WeightsFile)
	f, err := safetensors.Open(wpath)
	if err != nil {
		return nil, fmt.Errorf("lora: %w", err)
	}
	defer f.Close()
	a, err := FromFile(f, cfg)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// FromFile builds an adapter from the tensors of a safetensors file, copying
// them out of the mapping.
func FromFile(f *safetensors.File, cfg Config) (*Adapter, error) {
	a := &Adapter{Config: cfg}
	for _, name := range f.Names() {
		if m := savedModule(name); m != "" {
			if !slices.Contains(cfg.ModulesToSave, m) {
				return nil, fmt.Errorf("%s: tensor %q is a trained %s but modules_to_save is %v", f.Path, name, m, cfg.ModulesToSave)
			}
			v, info, err := f.Float32(name)
			if err != nil {
				return nil, err
			}
			if len(info.Shape) != 2 {
				return nil, fmt.Errorf("%s: tensor %q has shape %v, want [rows, cols]", f.Path, name, info.Shape)
			}
			a.Saved = append(a.Saved, &Full{Module: m, Rows: info.Shape[0], Cols: info.Shape[1], W: slices.Clone(v)})
			continue
		}
		layer, module, which, ok := ParseTensorName(name)
		if !ok {
			return nil, fmt.Errorf("%s: tensor %q is not a LoRA tensor of a Llama projection (want names like %s)", f.Path, name, TensorName(0, "q_proj", "A"))
		}
		v, info, err := f.Float32(name)
		if err != nil {
			return nil, err
		}
		if len(info.Shape) != 2 {
			return nil, fmt.Errorf("%s: tensor %q has shape %v, want 2 dimensions", f.Path, name, info.Shape)
		}
		p := a.Get(layer, module)
		if p == nil {
			p = &Pair{Layer: layer, Module: module}
			a.Pairs = append(a.Pairs, p)
		}
		switch which {
		case "A":
			if info.Shape[0] != cfg.R {
				return nil, fmt.Errorf("%s: tensor %q has shape %v, want [%d, in] for r=%d", f.Path, name, info.Shape, cfg.R, cfg.R)
			}
			p.In, p.A = info.Shape[1], slices.Clone(v)
		case "B":
			if info.Shape[1] != cfg.R {
				return nil, fmt.Errorf("%s: tensor %q has shape %v, want [out, %d] for r=%d", f.Path, name, info.Shape, cfg.R, cfg.R)
			}
			p.Out, p.B = info.Shape[0], slices.Clone(v)
		}
	}
	for _, p := range a.Pairs {
		if p.A == nil || p.B == nil {
			return nil, fmt.Errorf("%s: layer %d %s has only one of lora_A and lora_B", f.Path, p.Layer, p.Module)
		}
		if !slices.Contains(cfg.TargetModules, p.Module) {
			return nil, fmt.Errorf("%s: layer %d %s is adapted but not in target_modules %v", f.Path, p.Layer, p.Module, cfg.TargetModules)
		}
	}
	for _, m := range cfg.ModulesToSave {
		if a.GetSaved(m) == nil {
			return nil, fmt.Errorf("%s: modules_to_save lists %s but the file has no %s", f.Path, m, FullName(m))
		}
	}
	a.sort()
	return a, nil
}

func savedModule(name string) string {
	for _, m := range SaveModules {
		if name == FullName(m) {
			return m
		}
	}
	return ""
}

func (a *Adapter) sort() {
	slices.SortFunc(a.Pairs, func(x, y *Pair) int {
		if x.Layer != y.Layer {
			return x.Layer - y.Layer
		}
		return slices.Index(Modules, x.Module) - slices.Index(Modules, y.Module)
	})
	slices.SortFunc(a.Saved, func(x, y *Full) int {
		return slices.Index(SaveModules, x.Module) - slices.Index(SaveModules, y.Module)
	})
}
