// Package lora holds LoRA adapters for Llama-family models in PEFT's format:
// adapter_config.json with LoraConfig's fields and adapter_model.safetensors
// with PEFT's tensor names, so adapters move between crossin and Python
// peft unchanged.
//
// A LoRA pair adds (alpha/r)·B·A to a frozen projection W of shape
// [out, in]; A is [r, in] and B is [out, r], both row-major float32 as
// PyTorch stores nn.Linear weights.
package lora

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Modules are the Llama projections LoRA can target, in the fixed order
// crossin iterates them (never map order).
var Modules = []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}

// ModulePath is the module's path inside a decoder layer, as in the
// Hugging Face Llama implementation.
func ModulePath(module string) (string, error) {
	switch module {
	case "q_proj", "k_proj", "v_proj", "o_proj":
		return "self_attn." + module, nil
	case "gate_proj", "up_proj", "down_proj":
		return "mlp." + module, nil
	}
	return "", fmt.Errorf("lora: unknown target module %q (want one of %v)", module, Modules)
}

// TensorName is PEFT's saved name of a LoRA tensor; which is "A" or "B".
// peft strips the adapter name ("default") when saving, so files hold
// base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight.
func TensorName(layer int, module, which string) string {
	p, err := ModulePath(module)
	if err != nil {
		p = module
	}
	return fmt.Sprintf("base_model.model.model.layers.%d.%s.lora_%s.weight", layer, p, which)
}

// Pair is one adapted projection.
type Pair struct {
	Layer   int
	Module  string
	In, Out int
	A       []float32 // [R, In]
	B       []float32 // [Out, R]
}

// Adapter is a set of LoRA pairs with their configuration. Pairs are kept
// sorted by layer, then by the order of Modules.
type Adapter struct {
	Config Config
	Pairs  []*Pair
	// Saved are the fully trained copies of modules_to_save, in the order
	// of SaveModules.
	Saved []*Full
}

// SaveModules are the modules_to_save crossin supports: the untied LM head
// and input embedding, trained in full.
var SaveModules = []string{"embed_tokens", "lm_head"}

// Full is a fully trained copy of a module (peft's ModulesToSaveWrapper).
type Full struct {
	Module     string
	Rows, Cols int
	W          []float32 // [Rows, Cols], e.g. [vocab, hidden]
}

// FullName is peft's saved name of a modules_to_save tensor: the wrapper's
// "modules_to_save.default." is stripped, leaving the base model's name.
func FullName(module string) string {
	if module == "embed_tokens" {
		return "base_model.model.model.embed_tokens.weight"
	}
	return "base_model.model." + module + ".weight"
}

// GetSaved returns the trained copy of module, or nil.
func (a *Adapter) GetSaved(module string) *Full {
	for _, f := range a.Saved {
		if f.Module == module {
			return f
		}
	}
	return nil
}

// Scale is the factor applied to B·A·x: alpha/r, or alpha/sqrt(r) with
// rsLoRA, as peft computes it in float64 before it meets float32 tensors.
func (c Config) Scale() float64 {
	if c.UseRSLoRA {
		return c.Alpha / math.Sqrt(float64(c.R))
	}
	return c.Alpha / float64(c.R)
}

// Get returns the pair for a layer and module, or nil when it is not adapted.
func (a *Adapter) Get(layer int, module string) *Pair {
	for _, p := range a.Pairs {
		if p.Layer == layer && p.Module == module {
			return p
		}
	}
	return nil
}

// Shapes gives the [out, in] shape of a projection of the base model.
type Shapes func(module string) (in, out int)

// New creates an adapter with PEFT's default initialisation
// (init_lora_weights=True): A from kaiming_uniform(a=√5), that is
// U(-1/√in, 1/√in), and B zero, so the adapted model starts equal to the
// base. The random numbers come from a PCG seeded with seed, drawn in the
// order of Pairs.
func New(cfg Config, layers int, shapes Shapes, seed uint64) (*Adapter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x10a4))
	a := &Adapter{Config: cfg}
	for l := 0; l < layers; l++ {
		for _, m := range Modules {
			if !slices.Contains(cfg.TargetModules, m) {
				continue
			}
			in, out := shapes(m)
			p := &Pair{Layer: l, Module: m, In: in, Out: out,
				A: make([]float32, cfg.R*in), B: make([]float32, out*cfg.R)}
			bound := 1 / math.Sqrt(float64(in))
			for i := range p.A {
				p.A[i] = float32((rng.Float64()*2 - 1) * bound)
			}
			a.Pairs = append(a.Pairs, p)
		}
	}
	return a, nil
}

// Clone returns a deep copy.
func (a *Adapter) Clone() *Adapter {
	c := &Adapter{Config: a.Config.clone()}
	for _, p := range a.Pairs {
		q := *p
		q.A = slices.Clone(p.A)
		q.B = slices.Clone(p.B)
		c.Pairs = append(c.Pairs, &q)
	}
	for _, f := range a.Saved {
		g := *f
		g.W = slices.Clone(f.W)
		c.Saved = append(c.Saved, &g)
	}
	return c
}

// Delta returns scale·B·A, the [Out, In] change the pair makes to its
// projection, accumulated in float64 and rounded once.
func (p *Pair) Delta(r int, scale float64) []float32 {
	d := make([]float32, p.Out*p.In)
	row := make([]float64, p.In)
	for o := 0; o < p.Out; o++ {
		clear(row)
		for k := 0; k < r; k++ {
			b := float64(p.B[o*r+k])
			ak := p.A[k*p.In : (k+1)*p.In]
			for i, x := range ak {
				row[i] += b * float64(x)
			}
		}
		for i, x := range row {
			d[o*p.In+i] = float32(x * scale)
		}
	}
	return d
}

// MergeInto adds scale·B·A to w ([Out, In], row-major): PEFT's
// merge_and_unload for one projection.
func (p *Pair) MergeInto(w []float32, r int, scale float64) error {
	if len(w) != p.Out*p.In {
		return fmt.Errorf("lora: merge %s of layer %d: weight has %d values, want %d×%d", p.Module, p.Layer, len(w), p.Out, p.In)
	}
	for i, d := range p.Delta(r, scale) {
		w[i] += d
	}
	return nil
}
