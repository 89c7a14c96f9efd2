// Package schema is crossin's experiment language: a CUE schema embedded in
// the binary (crossin.cue) and a loader that unifies it with the user's spec
// files, validates them and decodes them into the plain Go values below.
//
// User files refer to the schema's definitions (#Model, #Experiment, ...)
// without an import: Load builds the embedded schema and all given files as
// one CUE instance. A package clause is optional; if files have one, any
// name will do. Relative paths in a spec are relative to the directory of
// the CUE file that spells them, so a spec means the same from any working
// directory.
package schema

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/crossin-lab/crossin/trainer"
)

// Version names this schema in cache keys; bump it when the meaning of a
// spec changes so that old cache entries are not reused.
const Version = "crossin.schema/v1"

// Spec is a loaded, validated set of spec files. Every list except an
// experiment's cells is sorted by name, so iteration order never depends
// on map order.
type Spec struct {
	Files       []string // absolute paths of the CUE files loaded
	Models      []*Model
	Data        []*DataSource
	Mixtures    []*Mixture
	Benchmarks  []*Benchmark
	Backends    []*Backend
	Experiments []*Experiment
}

// Pos is a position in a spec file (Filename is absolute).
type Pos struct {
	Filename string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	Column   int    `json:"col,omitempty"`
}

func (p Pos) String() string {
	if p.Filename == "" {
		return ""
	}
	if p.Line == 0 {
		return p.Filename
	}
	return fmt.Sprintf("%s:%d:%d", p.Filename, p.Line, p.Column)
}

// Hub is a Hugging Face hub repository at a revision.
type Hub struct {
	Repo     string `json:"repo"`
	Revision string `json:"revision"`
}

// Model is a base model. Exactly one of Hub, Path and Init is set.
type Model struct {
	Name     string     `json:"name"`
	Family   string     `json:"family"`   // llama, mistral, qwen2, gemma
	DType    string     `json:"dtype"`    // float32, bfloat16, float16
	Template string     `json:"template"` // alpaca, llama, gemma
	Hub      *Hub       `json:"hub,omitempty"`
	Path     string     `json:"path,omitempty"` // absolute local directory
	Init     *ModelInit `json:"init,omitempty"`
	Pos      Pos        `json:"-"`
}

// ModelInit describes a random Llama made by `crossin model init`.
type ModelInit struct {
	Tokenizer             string  `json:"tokenizer"` // absolute path of tokenizer.json
	HiddenSize            int     `json:"hidden_size"`
	IntermediateSize      int     `json:"intermediate_size"`
	NumHiddenLayers       int     `json:"num_hidden_layers"`
	NumAttentionHeads     int     `json:"num_attention_heads"`
	NumKeyValueHeads      int     `json:"num_key_value_heads"`
	MaxPositionEmbeddings int     `json:"max_position_embeddings"`
	RopeTheta             float64 `json:"rope_theta"`
	RMSNormEps            float64 `json:"rms_norm_eps"`
	TieWordEmbeddings     bool    `json:"tie_word_embeddings"`
	Seed                  int64   `json:"seed"`
}

// DataSource is an instruction data set.
type DataSource struct {
	Name      string   `json:"name"`
	Format    string   `json:"format"`    // jsonl, alpaca-json, xllm, parquet
	Languages []string `json:"languages"` // ISO 639-1, in spec order
	Align     string   `json:"align"`     // id or index
	// Files maps a language to its file: an absolute local path, or a path
	// inside the hub repository when Hub is set.
	Files map[string]string `json:"files,omitempty"`
	// Path is one file or an x-llm directory (absolute, or inside Hub).
	Path string `json:"path,omitempty"`
	Hub  *Hub   `json:"hub,omitempty"`
	// MinScore drops records whose "score" field is below it (0: keep all).
	MinScore float64 `json:"min_score"`
	// InvalidUTF8 is "replace" when the source opts into reading bytes
	// that are not UTF-8 as U+FFFD; otherwise such a file is an error.
	InvalidUTF8 string `json:"invalid_utf8,omitempty"`
	Description string `json:"description,omitempty"`
	License     string `json:"license,omitempty"`
	Pos         Pos    `json:"-"`
}

// Variants in their canonical order (the order of Mixture.Variants).
var Variants = []string{"en2x", "x2en", "x2x", "trans"}

// Mixture is a training set: Base plus CrossIn variants.
type Mixture struct {
	Name     string        `json:"name"`
	Base     *Part         `json:"base,omitempty"`
	Variants []VariantPart `json:"variants,omitempty"` // canonical order, see Variants
	Pos      Pos           `json:"-"`
}

// Empty reports whether the mixture has no data: cells using it evaluate
// the untuned base model.
func (m *Mixture) Empty() bool { return m.Base == nil && len(m.Variants) == 0 }

// VariantNames lists the mixture's variants in canonical order.
func (m *Mixture) VariantNames() []string {
	var out []string
	for _, v := range m.Variants {
		out = append(out, v.Variant)
	}
	return out
}

// Part is one ingredient of a mixture.
type Part struct {
	Source    string   `json:"source"`
	Volume    Volume   `json:"volume"`
	Languages []string `json:"languages"` // defaults to the source's languages
	Seed      int64    `json:"seed"`
	Sampling  string   `json:"sampling"`            // with_replacement, without_replacement or numpy
	Marker    string   `json:"marker,omitempty"`    // code, instruction, none; "" = the variant's default
	Direction string   `json:"direction,omitempty"` // trans: x2en, en2x, both, any
	AllowSame bool     `json:"allow_same"`          // x2x: equal languages allowed
}

// VariantPart is a Part for one CrossIn variant.
type VariantPart struct {
	Variant string `json:"variant"` // en2x, x2en, x2x, trans
	Part
}

// Volume is a sample count, or All.
type Volume struct {
	All bool
	N   int
}

func (v Volume) String() string {
	if v.All {
		return "all"
	}
	return strconv.Itoa(v.N)
}

// MarshalJSON writes "all" or the count, as in the spec.
func (v Volume) MarshalJSON() ([]byte, error) {
	if v.All {
		return []byte(`"all"`), nil
	}
	return []byte(strconv.Itoa(v.N)), nil
}

// UnmarshalJSON reads "all" or a count.
func (v *Volume) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		if s != "all" {
			return fmt.Errorf("volume %q: want a count or \"all\"", s)
		}
		*v = Volume{All: true}
		return nil
	}
	var n int
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("volume %s: want a count or \"all\"", b)
	}
	if n < 0 {
		return fmt.Errorf("volume %d: must be >= 0", n)
	}
	*v = Volume{N: n}
	return nil
}

// Benchmark is one SeaEval benchmark evaluation.
type Benchmark struct {
	Name string `json:"name"`
	Task string `json:"task"` // cross_mmlu, cross_logiqa, cross_xquad
	// Eval holds the trainer-contract parameters (Benchmark = Task,
	// Languages in SeaEval names).
	Eval         trainer.EvalParams `json:"eval"`
	ConsistencyK int                `json:"consistency_k"`
	Path         string             `json:"path,omitempty"` // absolute local SeaEval-format JSONL
	Hub          *Hub               `json:"hub,omitempty"`  // dataset repo; config = Task
	Pos          Pos                `json:"-"`
}

// Backend kinds.
const (
	BackendEmbedded  = "embedded"
	BackendContainer = "container"
	BackendSlurm     = "slurm"
	BackendK8s       = "kubernetes"
)

// Backend says where trainer jobs run.
type Backend struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Threads     int    `json:"threads,omitempty"`
	Image       string `json:"image,omitempty"` // reference as written; plans key on its digest
	Runtime     string `json:"runtime,omitempty"`
	GPUs        string `json:"gpus,omitempty"`
	Partition   string `json:"partition,omitempty"`
	Gres        string `json:"gres,omitempty"`
	Time        string `json:"time,omitempty"`
	CPUsPerTask int    `json:"cpus_per_task,omitempty"`
	Mem         string `json:"mem,omitempty"`
	Account     string `json:"account,omitempty"`
	// Kubernetes (kind "kubernetes"): where and how its Jobs run.
	Namespace       string            `json:"namespace,omitempty"`
	Context         string            `json:"context,omitempty"`
	Kubeconfig      string            `json:"kubeconfig,omitempty"`
	NodeSelector    map[string]string `json:"node_selector,omitempty"`
	Tolerations     []Toleration      `json:"tolerations,omitempty"`
	ServiceAccount  string            `json:"service_account,omitempty"`
	PriorityClass   string            `json:"priority_class,omitempty"`
	CPU             string            `json:"cpu,omitempty"`
	Memory          string            `json:"memory,omitempty"`
	ScheduleTimeout string            `json:"schedule_timeout,omitempty"`
	PullPolicy      string            `json:"pull_policy,omitempty"`
	Volume          *K8sVolume        `json:"volume,omitempty"`
	OCI             *K8sOCI           `json:"oci,omitempty"`
	// Trainer is what the image runs (container, slurm, kubernetes):
	// TrainerCrossin or TrainerHF.
	Trainer string            `json:"trainer,omitempty"`
	Options map[string]string `json:"options,omitempty"`
	Pos     Pos               `json:"-"`
}

// Toleration is a Kubernetes pod toleration (core/v1 field names).
type Toleration struct {
	Key               string `json:"key,omitempty"`
	Operator          string `json:"operator,omitempty"`
	Value             string `json:"value,omitempty"`
	Effect            string `json:"effect,omitempty"`
	TolerationSeconds *int64 `json:"toleration_seconds,omitempty"`
}

// K8sVolume is how a kubernetes backend's pods see the cache: a
// PersistentVolumeClaim mounted at Path (default: the cache directory).
// Without it, each input and the output directory are hostPath volumes.
type K8sVolume struct {
	Claim string `json:"claim"`
	Path  string `json:"path,omitempty"`
}

// K8sOCI is the kubernetes backend's mode without a shared filesystem:
// pods pull inputs from Repository (REGISTRY/REPOSITORY) by digest and push
// their outputs there; Secret is a dockerconfigjson Secret they use.
type K8sOCI struct {
	Repository string `json:"repository"`
	Secret     string `json:"secret,omitempty"`
}

// Trainers an image can hold (Backend.Trainer).
const (
	TrainerCrossin = "crossin" // the embedded engine: `crossin trainer run SPEC`
	TrainerHF      = "hf"      // crossin-trainer-hf SPEC (trainers/hf)
)

// Experiment is an expanded grid.
type Experiment struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Backend     string   `json:"backend"`
	Benchmarks  []string `json:"benchmarks"` // benchmark names, in spec order
	// Cells in spec order: the grid's models x mixtures x seeds order,
	// then cells the spec adds. CUE's field order is deterministic.
	Cells []*Cell `json:"cells"`
	// Report is the experiment's report layout as JSON (nil if none); the
	// reports package interprets it.
	Report json.RawMessage `json:"report,omitempty"`
	// Remote is the remote cache (REGISTRY/REPOSITORY) the experiment's
	// stage outputs are pulled from and pushed to; "" for none.
	Remote string `json:"remote,omitempty"`
	Pos    Pos    `json:"-"`
}

// Cell is one model x mixture x seed of an experiment.
type Cell struct {
	ID      string              `json:"id"` // e.g. "gemma-2b/x2x-3000/s42"
	Model   string              `json:"model"`
	Mixture string              `json:"mixture"`
	Seed    int64               `json:"seed"`
	Train   trainer.TrainParams `json:"train"` // defaults < experiment < cell
	Labels  map[string]string   `json:"labels,omitempty"`
	Pos     Pos                 `json:"-"`
}

// Model returns the model named name, or nil.
func (s *Spec) Model(name string) *Model {
	for _, m := range s.Models {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// DataSource returns the data source named name, or nil.
func (s *Spec) DataSource(name string) *DataSource {
	for _, d := range s.Data {
		if d.Name == name {
			return d
		}
	}
	return nil
}

// Mixture returns the mixture named name, or nil.
func (s *Spec) Mixture(name string) *Mixture {
	for _, m := range s.Mixtures {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// Benchmark returns the benchmark named name, or nil.
func (s *Spec) Benchmark(name string) *Benchmark {
	for _, b := range s.Benchmarks {
		if b.Name == name {
			return b
		}
	}
	return nil
}

// Backend returns the backend named name, or nil.
func (s *Spec) Backend(name string) *Backend {
	for _, b := range s.Backends {
		if b.Name == name {
			return b
		}
	}
	return nil
}

// Experiment returns the experiment named name, or nil.
func (s *Spec) Experiment(name string) *Experiment {
	for _, e := range s.Experiments {
		if e.Name == name {
			return e
		}
	}
	return nil
}

// SeaEvalNames maps ISO 639-1 codes to SeaEval's language names.
var SeaEvalNames = map[string]string{
	"en": "English", "zh": "Chinese", "vi": "Vietnamese", "es": "Spanish",
	"id": "Indonesian", "ms": "Malay", "tl": "Filipino",
}
