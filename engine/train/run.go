package train

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/crossin-lab/crossin/engine/lora"
)

// DefaultCheckpointEvery is the longest checkpoint interval, in optimiser
// steps, when Config.CheckpointEvery is 0 (see CheckpointInterval).
const DefaultCheckpointEvery = 50

// checkpointsPerRun is how many checkpoints a run without an explicit
// interval writes at least: a short training (the quickstart's take 25 and
// 50 steps) that is killed then still resumes from a recent step instead of
// from step 1.
const checkpointsPerRun = 10

// CheckpointInterval is the checkpoint interval of a run of total steps:
// every steps when set, else a tenth of the run, at most
// DefaultCheckpointEvery. Outputs never depend on it (tested).
func CheckpointInterval(every, total int) int {
	if every > 0 {
		return every
	}
	return max(1, min(DefaultCheckpointEvery, (total+checkpointsPerRun-1)/checkpointsPerRun))
}

// Result is what a finished run produced.
type Result struct {
	Adapter *lora.Adapter
	Curve   LossCurve
	Steps   int
	Tokens  int // non-padding tokens seen
	// Truncated counts the examples cut to max_length that still have a
	// response token to learn from; they train on what is left, as in the
	// reference. Skipped counts those with no response token left: the
	// reference would have averaged over zero tokens (a NaN loss), so they
	// are left out, and reported.
	Truncated int
	Skipped   int
	Resumed   int // the step a resumed run started from (0 = fresh)
	Elapsed   time.Duration
}

type options struct {
	seed          int64
	threads       int
	threadsNow    func() int
	ckptDir       string
	progress      io.Writer
	live          bool
	callback      Progress
	init          *lora.Adapter
	pad           int32
	now           func() time.Time
	stopAfterStep int
	steps         [][]Sequence // WithSteps: a fixed plan
}

// Option configures Run.
type Option func(*options)

// WithSeed sets the seed of the adapter initialisation, the data order and
// dropout (the job's seed).
func WithSeed(s int64) Option { return func(o *options) { o.seed = s } }

// WithThreads bounds the goroutines of the trainer's loops and matrix
// products (tensor.Threads; 0 = GOMAXPROCS), so a job keeps to n cores
// even beside other work in the same process. Results never depend on it.
func WithThreads(n int) Option { return func(o *options) { o.threads = n } }

// WithThreadsNow lets the bound change while the run goes on: before each
// step the run takes f's value (at least 1) as its bound, so threads that
// a scheduler lends or takes back are used from the next step on.
func WithThreadsNow(f func() int) Option { return func(o *options) { o.threadsNow = f } }

// WithCheckpoints enables periodic checkpoints in dir and resumes from the
// newest one found there.
func WithCheckpoints(dir string) Option { return func(o *options) { o.ckptDir = dir } }

// WithProgress writes a progress line per optimiser step to w. With live,
// the line is redrawn in place (carriage return) for a terminal.
func WithProgress(w io.Writer, live bool) Option {
	return func(o *options) { o.progress, o.live = w, live }
}

// WithCallback reports each optimiser step to p (the runner's progress).
func WithCallback(p Progress) Option { return func(o *options) { o.callback = p } }

// WithAdapter starts from a given adapter (e.g. a PEFT adapter) instead of a
// freshly initialised one; its config then overrides Config.LoRA.
func WithAdapter(a *lora.Adapter) Option { return func(o *options) { o.init = a } }

// WithPadID sets the id written into padding positions (default 0; it is
// masked out and never affects results).
func WithPadID(id int) Option { return func(o *options) { o.pad = int32(id) } }

// withStopAfter ends the run after a step without finishing (tests).
func withStopAfter(step int) Option { return func(o *options) { o.stopAfterStep = step } }

// LoRAConfig converts the contract's LoRA parameters, defaulting to PEFT's
// defaults (r 8, alpha 8) and to q_proj and v_proj when no targets are given,
// as peft does for Llama.
func LoRAConfig(p LoRAParams) lora.Config {
	c := lora.Config{R: p.R, Alpha: p.Alpha, Dropout: p.Dropout, TargetModules: slices.Clone(p.TargetModules),
		ModulesToSave: slices.Clone(p.ModulesToSave), InitWeights: true}
	if c.R == 0 {
		c.R = 8
	}
	if c.Alpha == 0 {
		c.Alpha = 8
	}
	if len(c.TargetModules) == 0 {
		c.TargetModules = []string{"q_proj", "v_proj"}
	}
	return c
}

// plan is the fixed shape of a run: examples kept, batches per epoch, steps.
type plan struct {
	steps       [][]Sequence // a fixed plan (WithSteps); nil for an epoch plan
	exs         []Example
	truncated   int
	skipped     int
	batchSize   int
	accum       int
	perEpoch    int // micro-batches per epoch
	total       int // optimiser steps
	fingerprint string
}

func makePlan(base *Base, data []Example, p Config, seed int64, cfg lora.Config) (*plan, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("train: no training examples")
	}
	pl := &plan{batchSize: max(1, p.BatchSize), accum: max(1, p.GradAccum)}
	for i, e := range data {
		for _, ids := range [][]int32{e.Prompt, e.Response} {
			for _, id := range ids {
				if id < 0 || int(id) >= base.Vocab {
					return nil, fmt.Errorf("train: example %d has token id %d outside the model's vocabulary (size %d): data tokenized for another model?", i+1, id, base.Vocab)
				}
			}
		}
	}
	switch p.LossReduction {
	case "", LossToken, LossSample:
	default:
		return nil, fmt.Errorf("train: loss_reduction %q: want %q or %q", p.LossReduction, LossSample, LossToken)
	}
	for _, e := range data {
		if _, _, ok := e.truncate(p.MaxLength); !ok {
			pl.skipped++
			continue
		}
		if e.truncated(p.MaxLength) {
			pl.truncated++
		}
		pl.exs = append(pl.exs, e)
	}
	if len(pl.exs) == 0 {
		return nil, fmt.Errorf("train: none of %d examples has a response token within max_length %d", len(data), p.MaxLength)
	}
	if p.LearningRate <= 0 || math.IsNaN(p.LearningRate) {
		return nil, fmt.Errorf("train: learning_rate %v must be positive", p.LearningRate)
	}
	pl.perEpoch = (len(pl.exs) + pl.batchSize - 1) / pl.batchSize
	stepsPerEpoch := max(1, pl.perEpoch/pl.accum)
	switch {
	case p.MaxSteps > 0:
		pl.total = p.MaxSteps
	case p.Epochs > 0:
		pl.total = int(math.Ceil(p.Epochs * float64(stepsPerEpoch)))
	default:
		return nil, fmt.Errorf("train: set epochs or max_steps")
	}
	// The fingerprint ties checkpoints to everything that determines the
	// run, so a resume with other data or settings is refused.
	h := sha256.New()
	if p.LossReduction == LossToken {
		p.LossReduction = "" // the same run
	}
	pj, _ := json.Marshal(p)
	cj, _ := lora.MarshalConfig(cfg)
	dj, _ := json.Marshal(struct {
		D    Dims
		Seed int64
	}{base.Dims, seed})
	h.Write(pj)
	h.Write(cj)
	h.Write(dj)
	for _, e := range data {
		binary.Write(h, binary.LittleEndian, int64(len(e.Prompt)))
		binary.Write(h, binary.LittleEndian, e.Prompt)
		binary.Write(h, binary.LittleEndian, int64(len(e.Response)))
		binary.Write(h, binary.LittleEndian, e.Response)
	}
	pl.fingerprint = hex.EncodeToString(h.Sum(nil))
	return pl, nil
}

// microBatch returns global micro-batch m (epochs concatenated).
func (pl *plan) microBatch(m int, seed int64, maxLen int, pad int32) *Batch {
	epoch, i := m/pl.perEpoch, m%pl.perEpoch
	order := EpochOrder(len(pl.exs), seed, epoch)
	var exs []Example
	for _, j := range order[i*pl.batchSize : min(len(order), (i+1)*pl.batchSize)] {
		exs = append(exs, pl.exs[j])
	}
	b := collate(exs, maxLen, pad)
	b.DropSeed = microBatchSeed(seed, m)
	return b
}

// batches returns the micro-batches of optimiser step step.
func (pl *plan) batches(step int, seed int64, maxLen int, pad int32) []*Batch {
	if pl.steps != nil {
		return pl.stepBatches(step, seed, pad)
	}
	out := make([]*Batch, pl.accum)
	for k := range out {
		out[k] = pl.microBatch(step*pl.accum+k, seed, maxLen, pad)
	}
	return out
}

// Run trains a LoRA adapter on base with the given examples and parameters.
// Everything random (adapter init, data order, dropout) derives from the
// seed, and every reduction has a fixed order, so the same inputs give a
// byte-identical adapter for any thread count. With WithCheckpoints, a run
// that was killed resumes from its newest checkpoint and ends identical to
// an uninterrupted one.
func Run(ctx context.Context, base *Base, data []Example, p Config, opts ...Option) (*Result, error) {
	o := options{now: time.Now}
	for _, f := range opts {
		f(&o)
	}
	var ad *lora.Adapter
	if o.init != nil {
		ad = o.init.Clone()
	} else {
		var err error
		ad, err = lora.New(LoRAConfig(p.LoRA), base.Dims.Layers, base.Shape, uint64(o.seed))
		if err != nil {
			return nil, err
		}
		// modules_to_save start as copies of the base weights (peft's
		// ModulesToSaveWrapper deep-copies the module).
		for _, m := range lora.SaveModules {
			if !slices.Contains(ad.Config.ModulesToSave, m) {
				continue
			}
			w := base.LMHead
			if m == "embed_tokens" {
				w = base.Embed
			}
			ad.Saved = append(ad.Saved, &lora.Full{Module: m, Rows: base.Vocab, Cols: base.Hidden, W: slices.Clone(w)})
		}
	}
	var pl *plan
	var err error
	if o.steps != nil {
		if data != nil {
			return nil, fmt.Errorf("train: both examples and a fixed plan of steps given")
		}
		pl, err = makeStepPlan(base, o.steps, p, o.seed, ad.Config)
	} else {
		pl, err = makePlan(base, data, p, o.seed, ad.Config)
	}
	if err != nil {
		return nil, err
	}
	net, err := NewNet(base, ad, o.threads)
	if err != nil {
		return nil, err
	}
	opt := NewAdamW(sizes(net.Params()), p.WeightDecay)
	sched, err := NewSchedule(p.Scheduler, p.WarmupRatio, pl.total)
	if err != nil {
		return nil, err
	}
	res := &Result{Adapter: ad, Truncated: pl.truncated, Skipped: pl.skipped}
	every := CheckpointInterval(p.CheckpointEvery, pl.total)
	start := 0
	if o.ckptDir != "" {
		st, err := loadLatest(o.ckptDir, pl.fingerprint, net, opt)
		if err != nil {
			return nil, err
		}
		if st != nil {
			start = st.Step
			res.Curve = st.Curve
			res.Tokens = st.Tokens
			res.Resumed = st.Step
		}
	}
	t0 := o.now()
	tokensRun := 0
	for step := start; step < pl.total; step++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if o.threadsNow != nil {
			net.pool.threads = max(1, o.threadsNow())
		}
		batches := pl.batches(step, o.seed, p.MaxLength, o.pad)
		items, tokens, samples := 0, 0, 0
		for _, b := range batches {
			items += b.Items()
			samples += b.B
			for _, m := range b.Mask {
				tokens += int(m)
			}
		}
		net.ZeroGrads()
		loss, err := stepLoss(net, batches, items, samples, p.LossReduction)
		if err != nil {
			return nil, err
		}
		norm := ClipGradNorm(net.Grads, p.MaxGradNorm)
		lr := p.LearningRate * sched.Factor(step)
		if err := opt.Update(net.Params(), net.Grads, lr); err != nil {
			return nil, err
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return nil, fmt.Errorf("train: loss is %v at step %d (learning rate %g too high?)", loss, step+1, lr)
		}
		res.Tokens += tokens
		tokensRun += tokens
		res.Curve.Steps = append(res.Curve.Steps, LossPoint{Step: step + 1, Loss: loss, LearningRate: lr, GradNorm: norm, Tokens: tokens})
		done := step + 1
		if o.ckptDir != "" && (done%every == 0 || done == pl.total) {
			if err := saveCheckpoint(o.ckptDir, &ckptState{Step: done, Total: pl.total, Fingerprint: pl.fingerprint,
				Seed: o.seed, NextMicroBatch: done * pl.accum, Tokens: res.Tokens, Curve: res.Curve}, net, opt); err != nil {
				return nil, err
			}
		}
		el := o.now().Sub(t0)
		tps := float64(tokensRun) / max(el.Seconds(), 1e-9)
		eta := time.Duration(float64(el) / float64(done-start) * float64(pl.total-done))
		msg := fmt.Sprintf("step %d/%d loss %.4f lr %.3g %.0f tok/s ETA %s", done, pl.total, loss, lr, tps, eta.Round(time.Second))
		if o.progress != nil {
			if o.live {
				fmt.Fprintf(o.progress, "\r%s\x1b[K", msg)
				if done == pl.total {
					fmt.Fprintln(o.progress)
				}
			} else {
				fmt.Fprintln(o.progress, msg)
			}
		}
		if o.callback != nil {
			o.callback.Update(done, pl.total, msg)
		}
		if o.stopAfterStep > 0 && done >= o.stopAfterStep {
			break
		}
	}
	res.Steps = len(res.Curve.Steps)
	res.Elapsed = o.now().Sub(t0)
	return res, nil
}

// stepLoss runs forward and backward on the micro-batches of one optimiser
// step, leaving the gradient of the step's loss in net.Grads, and returns
// that loss. token: Σ CE / items (all labelled tokens of the step). sample:
// the mean over the step's samples of each sample's mean CE.
func stepLoss(net *Net, batches []*Batch, items, samples int, reduction string) (float64, error) {
	if reduction != LossSample {
		var sum float64
		for _, b := range batches {
			s, err := net.Backward(b, items)
			if err != nil {
				return 0, err
			}
			sum += s
		}
		return sum / float64(items), nil
	}
	var loss float64
	for _, b := range batches {
		scale := make([]float32, b.B)
		for r := range scale {
			// Every kept example has a response token (makePlan).
			scale[r] = float32(1 / (float64(b.RowItems(r)) * float64(samples)))
		}
		sums, err := net.BackwardRows(b, scale)
		if err != nil {
			return 0, err
		}
		for r, s := range sums {
			loss += s / float64(b.RowItems(r))
		}
	}
	return loss / float64(samples), nil
}
