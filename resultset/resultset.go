// Package resultset holds the scored outcome of an experiment grid: one row
// per (cell, benchmark). The runner writes it; reports read it.
//
// A Set is also a record of where its numbers came from. It has two parts:
// the hashed part (experiment, layout and rows, each row with the action and
// output IDs of every stage behind it), which depends only on the inputs,
// so the same spec and data give byte-identical bytes on any machine, and
// the run part (Provenance: crossin's build, the spec files and their git
// commit), which says who produced it. ComputeDigest hashes the first part only.
package resultset

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/crossin-lab/crossin/metrics"
)

// Row statuses. A row that is not StatusOK has no Score and is rendered as
// missing or failed, never as zero.
const (
	StatusOK      = "ok"
	StatusMissing = "missing" // not run yet
	StatusFailed  = "failed"
)

// Set is results.json.
type Set struct {
	Experiment string `json:"experiment"`
	// Layout is the reports.Layout (as JSON) of the table written beside
	// results.json, so `crossin report --results` redraws that table.
	Layout json.RawMessage `json:"layout,omitempty"`
	Rows   []Row           `json:"rows"`
	// Digest is "sha256:" + the hash of the hashed part (see ComputeDigest). It
	// is stored so that a reviewer can quote it and verify can check it.
	Digest string `json:"digest,omitempty"`
	// Provenance says which build and which spec produced the record. It
	// is not hashed: it may differ between two runs with identical rows.
	Provenance *Provenance `json:"provenance,omitempty"`
}

// Row is one cell evaluated on one benchmark.
type Row struct {
	Cell      string            `json:"cell"`      // stable cell ID from the plan
	Model     string            `json:"model"`     // model name from the spec
	Mixture   string            `json:"mixture"`   // mixture (variant) name, e.g. "base", "x2x"
	Variants  []string          `json:"variants"`  // CrossIn variants in the mixture
	Volume    string            `json:"volume"`    // CrossIn volume: "3000", "all", "" for base only
	Seed      int64             `json:"seed"`      // training seed
	Benchmark string            `json:"benchmark"` // cross_mmlu, cross_logiqa, cross_xquad
	Labels    map[string]string `json:"labels,omitempty"`
	Status    string            `json:"status"`
	Error     string            `json:"error,omitempty"`
	Score     *metrics.Result   `json:"score,omitempty"`
	// Source records how the row was produced (absent in records written
	// before crossin kept provenance).
	Source *Source `json:"source,omitempty"`
}

// Source is a row's provenance: the stages behind its score, with their
// keys and outputs, and the pinned inputs those keys were derived from.
// Every field is a function of the spec and its inputs.
type Source struct {
	// Stages behind the row in pipeline order: model, data, train (absent
	// for an untuned cell), eval, score.
	Stages []Stage `json:"stages"`
	// ModelCommit is the hub commit of the model ("" for local or
	// initialised models, whose content is in the model stage's key).
	ModelCommit string `json:"model_commit,omitempty"`
	// DataCommits maps each hub data source of the mixture to its commit.
	DataCommits map[string]string `json:"data_commits,omitempty"`
	// BenchmarkCommit is the hub commit of the benchmark, if from the hub.
	BenchmarkCommit string `json:"benchmark_commit,omitempty"`
	// Backend is the kind of backend that ran training and evaluation.
	Backend string `json:"backend"`
	// ImageDigest is the trainer image (container and Slurm backends).
	ImageDigest string `json:"image_digest,omitempty"`
	// Engine is the code version that entered the train and eval keys,
	// followed, for the embedded engine, by its arithmetic path (for
	// example "crossin-embedded/3 amd64-avx2-fma"): outputs computed on
	// another path may differ in the last bits.
	Engine string `json:"engine,omitempty"`
	// Unpinned lists references the spec names by tag or branch without a
	// pin in crossin.lock: they resolved to the commits above at run time
	// but may move, so such a row is never verified.
	Unpinned []string `json:"unpinned,omitempty"`
}

// Stage is one stage behind a row.
type Stage struct {
	Kind   string `json:"kind"`   // model, data, train, eval, score
	ID     string `json:"id"`     // the plan's stage ID
	Action string `json:"action"` // ActionID: hash of the stage's key
	Output string `json:"output"` // OutputID: hash of its output tree ("" when not built)
}

// Stage returns the row's stage of the given kind, or nil.
func (s *Source) Stage(kind string) *Stage {
	if s == nil {
		return nil
	}
	for i := range s.Stages {
		if s.Stages[i].Kind == kind {
			return &s.Stages[i]
		}
	}
	return nil
}

// Provenance is the run part of a record.
type Provenance struct {
	Crossin Build `json:"crossin"`
	Spec    Spec  `json:"spec"`
	// Smoke is set when the record is of the spec's smoke run (crossin run
	// --smoke), which verify and reproduce then plan too.
	Smoke bool `json:"smoke,omitempty"`
}

// Build identifies the crossin binary.
type Build struct {
	Version  string `json:"version"`            // release version or "devel"
	Revision string `json:"revision,omitempty"` // VCS commit it was built from
	Dirty    bool   `json:"dirty,omitempty"`    // built from a modified tree
	Go       string `json:"go,omitempty"`       // Go toolchain
}

// Spec identifies the spec files.
type Spec struct {
	// Files in load order; paths are relative to the git repository's root
	// when the files are in one, else to the working directory of the run.
	Files []SpecFile `json:"files"`
	// Hash is "sha256:" + the hash of every file's path and content.
	Hash string `json:"hash"`
	// Commit is the git commit of the repository holding the files, and
	// Dirty whether any spec file differed from it ("" when not in git).
	Commit string `json:"commit,omitempty"`
	Dirty  bool   `json:"dirty,omitempty"`
	// Root is the directory the paths are relative to, as "git" (the
	// repository root) or "cwd".
	Root string `json:"root"`
}

// SpecFile is one spec file.
type SpecFile struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// hashed is the part of a Set that Digest covers, in a fixed field order.
type hashed struct {
	Experiment string          `json:"experiment"`
	Layout     json.RawMessage `json:"layout,omitempty"`
	Rows       []Row           `json:"rows"`
}

// ComputeDigest returns "sha256:" + the SHA-256 of the hashed part of s
// (experiment, layout, rows) in canonical JSON. The run part and the
// stored Digest are not covered, so a record's digest is the same on
// every machine that produced the same rows.
func (s *Set) ComputeDigest() string {
	b, err := Marshal(hashed{Experiment: s.Experiment, Layout: compact(s.Layout), Rows: s.Rows})
	if err != nil {
		// Rows hold only JSON-encodable values; a failure is a bug.
		panic("resultset: digest: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// compact removes insignificant whitespace from a raw JSON value, so the
// digest does not depend on how the layout was indented.
func compact(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return raw
	}
	return b.Bytes()
}

// Marshal encodes v as compact JSON without HTML escaping (map keys are
// sorted by encoding/json; struct fields keep their order).
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Encode returns results.json: s indented, with its Digest filled in.
func Encode(s *Set) ([]byte, error) {
	c := *s
	c.Digest = s.ComputeDigest()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Decode reads results.json.
func Decode(data []byte) (*Set, error) {
	var s Set
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, err
	}
	return &s, nil
}
