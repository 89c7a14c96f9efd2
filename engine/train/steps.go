package train

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/crossin-lab/crossin/engine/lora"
)

// Sequence is one training example as trainer contract v2 hands it over:
// the model input and its labels (IgnoreIndex where no loss is taken; not
// shifted), already cut at the block size.
type Sequence struct {
	IDs, Labels []int32
}

// WithSteps makes Run follow a fixed plan instead of ordering data itself:
// steps[s] holds the sequences of optimiser step s, in order, and they are
// run in micro-batches of Config.BatchSize. Run's data argument must then be
// nil, and Config's Epochs, MaxSteps, GradAccum and MaxLength are not used:
// whoever wrote the plan (package jobdata) applied them. This is how every
// trainer of contract v2 receives its data, so the embedded engine and the
// GPU trainer train on identical inputs.
func WithSteps(steps [][]Sequence) Option { return func(o *options) { o.steps = steps } }

// makeStepPlan checks a fixed plan against the model and fingerprints it.
func makeStepPlan(base *Base, steps [][]Sequence, p Config, seed int64, cfg lora.Config) (*plan, error) {
	if len(steps) == 0 {
		return nil, fmt.Errorf("train: no optimiser steps")
	}
	pl := &plan{steps: steps, batchSize: max(1, p.BatchSize), total: len(steps)}
	for s, seqs := range steps {
		if len(seqs) == 0 {
			return nil, fmt.Errorf("train: optimiser step %d has no examples", s+1)
		}
		for i, q := range seqs {
			if len(q.IDs) == 0 || len(q.IDs) != len(q.Labels) {
				return nil, fmt.Errorf("train: step %d example %d: %d ids and %d labels", s+1, i+1, len(q.IDs), len(q.Labels))
			}
			for _, id := range q.IDs {
				if id < 0 || int(id) >= base.Vocab {
					return nil, fmt.Errorf("train: step %d example %d has token id %d outside the model's vocabulary (size %d): data tokenized for another model?", s+1, i+1, id, base.Vocab)
				}
			}
		}
		// micro-batches per step: the same count as an epoch plan's
		// accumulation when the plan came from jobdata.
		pl.accum = max(pl.accum, (len(seqs)+pl.batchSize-1)/pl.batchSize)
	}
	if p.LearningRate <= 0 {
		return nil, fmt.Errorf("train: learning_rate %v must be positive", p.LearningRate)
	}
	h := sha256.New()
	pj, _ := json.Marshal(p)
	cj, _ := lora.MarshalConfig(cfg)
	dj, _ := json.Marshal(struct {
		D     Dims
		Seed  int64
		Steps int
	}{base.Dims, seed, len(steps)})
	h.Write(pj)
	h.Write(cj)
	h.Write(dj)
	for _, seqs := range steps {
		binary.Write(h, binary.LittleEndian, int64(len(seqs)))
		for _, q := range seqs {
			binary.Write(h, binary.LittleEndian, int64(len(q.IDs)))
			binary.Write(h, binary.LittleEndian, q.IDs)
			binary.Write(h, binary.LittleEndian, q.Labels)
		}
	}
	pl.fingerprint = hex.EncodeToString(h.Sum(nil))
	return pl, nil
}

// stepBatches returns the micro-batches of a fixed plan's step: its
// sequences in chunks of batchSize, right-padded. Micro-batch k of step s
// draws its dropout masks from the same seed as micro-batch s*accum+k of
// an epoch plan, so that a fixed plan with the composition of an epoch plan
// trains to the same bytes.
func (pl *plan) stepBatches(step int, seed int64, pad int32) []*Batch {
	seqs := pl.steps[step]
	var out []*Batch
	for k := 0; k*pl.batchSize < len(seqs); k++ {
		chunk := seqs[k*pl.batchSize : min(len(seqs), (k+1)*pl.batchSize)]
		T := 0
		for _, q := range chunk {
			T = max(T, len(q.IDs))
		}
		b := &Batch{B: len(chunk), T: T}
		for _, q := range chunk {
			for t := 0; t < T; t++ {
				if t < len(q.IDs) {
					b.IDs, b.Labels, b.Mask = append(b.IDs, q.IDs[t]), append(b.Labels, q.Labels[t]), append(b.Mask, 1)
				} else {
					b.IDs, b.Labels, b.Mask = append(b.IDs, pad), append(b.Labels, IgnoreIndex), append(b.Mask, 0)
				}
			}
		}
		b.DropSeed = microBatchSeed(seed, step*pl.accum+k)
		out = append(out, b)
	}
	return out
}

// microBatchSeed is the dropout seed of global micro-batch m.
func microBatchSeed(seed int64, m int) uint64 {
	hs := sha256.Sum256(binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, uint64(seed)), uint64(m)))
	return binary.LittleEndian.Uint64(hs[:8])
}
