package lora

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// Config is the part of peft's LoraConfig crossin uses. Read keeps every
// other field of a PEFT file; Write emits the full set peft 0.21 writes so
// peft.PeftModel.from_pretrained accepts the directory unchanged.
type Config struct {
	R             int
	Alpha         float64
	Dropout       float64
	TargetModules []string
	ModulesToSave []string
	BaseModel     string // base_model_name_or_path; informational
	UseRSLoRA     bool
	InitWeights   bool // init_lora_weights as written (true = PEFT default)
	// Extra holds fields of a loaded file that Config does not model, so a
	// read-write round trip keeps them.
	Extra map[string]json.RawMessage
}

func (c Config) clone() Config {
	c.TargetModules = slices.Clone(c.TargetModules)
	c.ModulesToSave = slices.Clone(c.ModulesToSave)
	return c
}

// Validate checks the values a training run and the file format rely on.
func (c Config) Validate() error {
	if c.R <= 0 {
		return fmt.Errorf("lora: r=%d: the rank must be positive", c.R)
	}
	if c.Alpha <= 0 {
		return fmt.Errorf("lora: alpha=%v: must be positive (PEFT's default is 8)", c.Alpha)
	}
	if c.Dropout < 0 || c.Dropout >= 1 {
		return fmt.Errorf("lora: dropout=%v: want a value in [0, 1)", c.Dropout)
	}
	if len(c.TargetModules) == 0 {
		return fmt.Errorf("lora: no target modules (want some of %v)", Modules)
	}
	for _, m := range c.TargetModules {
		if _, err := ModulePath(m); err != nil {
			return err
		}
	}
	for _, m := range c.ModulesToSave {
		if !slices.Contains(SaveModules, m) {
			return fmt.Errorf("lora: modules_to_save %q is not supported (want some of %v)", m, SaveModules)
		}
	}
	return nil
}

// peftDefaults are the fields peft 0.21 writes in adapter_config.json for a
// plain LoRA adapter, with their default values. Crossin's own fields are
// written over them.
var peftDefaults = map[string]any{
	"alora_invocation_tokens": nil,
	"alpha_pattern":           map[string]any{},
	"arrow_config":            nil,
	"auto_mapping":            nil,
	"base_model_name_or_path": nil,
	"bias":                    "none",
	"corda_config":            nil,
	"ensure_weight_tying":     false,
	"eva_config":              nil,
	"exclude_modules":         nil,
	"fan_in_fan_out":          false,
	"inference_mode":          true,
	"init_lora_weights":       true,
	"kasa_config":             nil,
	"layer_replication":       nil,
	"layers_pattern":          nil,
	"layers_to_transform":     nil,
	"loftq_config":            map[string]any{},
	"lora_alpha":              8,
	"lora_bias":               false,
	"lora_dropout":            0.0,
	"lora_ga_config":          nil,
	"megatron_config":         nil,
	"megatron_core":           "megatron.core",
	"modules_to_save":         nil,
	"monteclora_config":       nil,
	"peft_type":               "LORA",
	"peft_version":            "0.21.0",
	"qalora_group_size":       16,
	"r":                       8,
	"rank_pattern":            map[string]any{},
	"revision":                nil,
	"target_modules":          nil,
	"target_parameters":       nil,
	"task_type":               "CAUSAL_LM",
	"trainable_token_indices": nil,
	"use_bdlora":              nil,
	"use_dora":                false,
	"use_qalora":              false,
	"use_rslora":              false,
	"velora_config":           nil,
}

// MarshalConfig renders adapter_config.json: sorted keys, two-space indent,
// as peft's save_pretrained (json.dumps(indent=2, sort_keys=True)).
func MarshalConfig(c Config) ([]byte, error) {
	m := map[string]any{}
	for k, v := range peftDefaults {
		m[k] = v
	}
	for k, v := range c.Extra {
		m[k] = v
	}
	m["r"] = c.R
	m["lora_alpha"] = jsonNumber(c.Alpha)
	m["lora_dropout"] = c.Dropout
	m["target_modules"] = sortedModules(c.TargetModules)
	if len(c.ModulesToSave) > 0 {
		m["modules_to_save"] = c.ModulesToSave
	}
	if c.BaseModel != "" {
		m["base_model_name_or_path"] = c.BaseModel
	}
	m["use_rslora"] = c.UseRSLoRA
	m["init_lora_weights"] = c.InitWeights
	// encoding/json sorts map keys, as sort_keys=True does.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// jsonNumber writes whole alphas as integers (peft users write lora_alpha=16).
func jsonNumber(f float64) any {
	if f == float64(int64(f)) {
		return int64(f)
	}
	return f
}

func sortedModules(ms []string) []string {
	out := slices.Clone(ms)
	slices.Sort(out)
	return out
}

// ParseConfig reads adapter_config.json. name is used in errors.
func ParseConfig(data []byte, name string) (Config, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	var c Config
	get := func(key string, dst any) error {
		v, ok := raw[key]
		if !ok || string(v) == "null" {
			return nil
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return fmt.Errorf("%s: field %q: %w", name, key, err)
		}
		return nil
	}
	var peftType, biasKind string
	var useDora, fanInFanOut bool
	var init any
	var targets any
	for _, f := range []struct {
		k string
		d any
	}{{"peft_type", &peftType}, {"r", &c.R}, {"lora_alpha", &c.Alpha}, {"lora_dropout", &c.Dropout},
		{"target_modules", &targets}, {"modules_to_save", &c.ModulesToSave}, {"base_model_name_or_path", &c.BaseModel},
		{"use_rslora", &c.UseRSLoRA}, {"use_dora", &useDora}, {"bias", &biasKind}, {"fan_in_fan_out", &fanInFanOut},
		{"init_lora_weights", &init}} {
		if err := get(f.k, f.d); err != nil {
			return Config{}, err
		}
	}
	if peftType != "" && peftType != "LORA" {
		return Config{}, fmt.Errorf("%s: peft_type %q: only LORA adapters are supported", name, peftType)
	}
	if useDora {
		return Config{}, fmt.Errorf("%s: use_dora is true: DoRA adapters are not supported", name)
	}
	if biasKind != "" && biasKind != "none" {
		return Config{}, fmt.Errorf("%s: bias %q: only bias \"none\" is supported", name, biasKind)
	}
	if fanInFanOut {
		return Config{}, fmt.Errorf("%s: fan_in_fan_out is true: only nn.Linear ([out, in]) weights are supported", name)
	}
	switch t := targets.(type) {
	case []any:
		for _, x := range t {
			s, ok := x.(string)
			if !ok {
				return Config{}, fmt.Errorf("%s: target_modules: want a list of names", name)
			}
			c.TargetModules = append(c.TargetModules, s)
		}
	case string:
		// A regex target; crossin supports the common "all linear" patterns by name only.
		return Config{}, fmt.Errorf("%s: target_modules is the regex %q: list the module names instead (%v)", name, t, Modules)
	case nil:
		return Config{}, fmt.Errorf("%s: target_modules is missing", name)
	}
	c.TargetModules = sortedModules(c.TargetModules)
	c.InitWeights = init != false
	c.Extra = map[string]json.RawMessage{}
	for k, v := range raw {
		switch k {
		case "r", "lora_alpha", "lora_dropout", "target_modules", "modules_to_save", "base_model_name_or_path", "use_rslora", "init_lora_weights":
		default:
			c.Extra[k] = v
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}
