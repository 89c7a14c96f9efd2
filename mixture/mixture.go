// Package mixture builds CrossIn training mixtures: an English Base set plus
// cross-lingual variants drawn from parallel instruction data (en2x, x2en,
// x2x) and translation pairs (trans: from the same parallel set's
// instructions as the reference builder does, or from a sentence file),
// each at its own volume, concatenated and shuffled with a seed.
//
// The default sampling follows CrossIn's reference builder in kind: each
// record draws a language pair, then a source item uniformly at random with
// replacement (without, when asked) from the items that have both
// languages. Items missing a language are never used for a pair that needs
// it, so a question is never paired with the answer to another question.
// Sampling "numpy" (replay.go) goes further and replays the reference
// builder's exact numpy draws and order. Every record carries its
// provenance (mode, languages, source ids).
//
// Output is byte-identical for the same spec and inputs on any machine and
// any GOMAXPROCS: all randomness comes from math/rand/v2 PCG streams (or
// numpy's MT19937, nprand) seeded by the spec, and no map order is ever
// observed.
package mixture

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync"

	"github.com/crossin-lab/crossin/dataset"
	"github.com/crossin-lab/crossin/hub"
)

// The CrossIn modes.
const (
	// Base: English instruction, English response.
	Base Mode = "base"
	// En2X: English instruction (and input), response in a non-English language.
	En2X Mode = "en2x"
	// X2En: instruction in a non-English language, English response.
	X2En Mode = "x2en"
	// X2X: instruction and response languages drawn from all languages.
	X2X Mode = "x2x"
	// Trans: "Translate the following sentence into {language}." with a
	// parallel sentence as input and its translation as output.
	Trans Mode = "trans"
)

const (
	// MarkerCode appends "\n[zh]" (the response language code) to the input,
	// as the reference builder does, also when the input is empty.
	MarkerCode Marker = "code"
	// MarkerInstruction appends " Answer in Chinese." to the instruction.
	MarkerInstruction Marker = "instruction"
	// MarkerNone adds nothing.
	MarkerNone Marker = "none"
)

const (
	// WithReplacement draws every record independently (the reference
	// builder's behaviour); an item may be used more than once.
	WithReplacement Sampling = "with_replacement"
	// WithoutReplacement uses each source item at most once per variant.
	WithoutReplacement Sampling = "without_replacement"
)

type config struct {
	inputs *Inputs
	hub    *hub.Client
}

// Option configures Build.
type Option func(*config)

// WithInputs supplies already loaded inputs instead of Spec.Sources.
func WithInputs(in Inputs) Option { return func(c *config) { c.inputs = &in } }

// Record is one training example of a mixture.
type Record struct {
	ID          string   `json:"id"`
	Mode        Mode     `json:"mode"`
	SrcLang     string   `json:"src_lang"`
	TgtLang     string   `json:"tgt_lang"`
	Instruction string   `json:"instruction"`
	Input       string   `json:"input"`
	Output      string   `json:"output"`
	SourceIDs   []string `json:"source_ids"`
}

// Result is a built mixture.
type Result struct {
	Name    string
	Records []Record
	// Hash is "sha256:<hex>" of the JSONL encoding (see Encode).
	Hash     string
	Stats    Stats
	Coverage []dataset.Coverage
	// Skipped counts, per variant, source items that had no usable language
	// pair (only with Count All sampled without replacement).
	Skipped map[string]int
}

// Build builds the mixture declared by spec.
func Build(ctx context.Context, spec Spec, opts ...Option) (*Result, error) {
	cfg := config{}
	for _, o := range opts {
		o(&cfg)
	}
	sp, err := normalize(spec)
	if err != nil {
		return nil, err
	}
	inputs := make([]*Inputs, len(sp.Variants))
	if cfg.inputs != nil {
		for i := range inputs {
			inputs[i] = cfg.inputs
		}
	} else if inputs, err = load(ctx, sp, cfg.hub); err != nil {
		return nil, err
	}
	res := &Result{Name: sp.Name, Skipped: map[string]int{}}
	seenPar := map[*dataset.Parallel]bool{}
	for i, v := range sp.Variants {
		if err := checkInputs(sp, v, inputs[i]); err != nil {
			return nil, err
		}
		if p := inputs[i].Parallel; p != nil && v.Mode != Base && !seenPar[p] {
			seenPar[p] = true
			res.Coverage = append(res.Coverage, p.Coverage()...)
		}
	}
	var recs []Record
	for vi, v := range sp.Variants {
		in := inputs[vi]
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var (
			out     []Record
			skipped int
			err     error
		)
		if v.Sampling == Numpy {
			out, err = drawNumpy(sp, v, poolOf(v, in))
		} else {
			rng := rand.New(rand.NewPCG(variantSeed(sp, v), stream(vi, v.Name)))
			out, skipped, err = drawVariant(sp, v, in, rng)
		}
		if err != nil {
			return nil, fmt.Errorf("mixture %s: variant %s: %w", sp.Name, v.Name, err)
		}
		if skipped > 0 {
			res.Skipped[v.Name] = skipped
		}
		recs = append(recs, out...)
	}
	// The reference builder concatenates its parts unshuffled (its trainer
	// shuffles); numpy sampling keeps that order, so it can be compared.
	if !sp.numpyOnly() {
		shuf := rand.New(rand.NewPCG(sp.Seed, stream(-1, "shuffle")))
		shuf.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
	}
	res.Records = recs
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		res.Stats = ComputeStats(recs)
	}()
	res.Hash = hashBytes(Encode(recs))
	wg.Wait()
	res.Stats.Hash = res.Hash
	return res, nil
}

// stream derives a PCG stream id from a variant's position and name, so each
// variant's draws are independent of the others' volumes.
func stream(i int, name string) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "crossin/mixture/%d/%s", i, name)
	return h.Sum64()
}
