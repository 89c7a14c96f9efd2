// Package conformance checks a trainer command against the trainer
// contract v1 (docs/trainer-contract.md): it runs small train and eval jobs
// through the command as a separate process and checks the exit status,
// the output layout, every manifest hash, the loss and predictions
// formats, determinism across thread counts (1 and 4), resume after kill -9
// (proved by the trainer's "resumed from step N" line, not only by equal
// bytes) and a clean failure on a bad spec.
//
// Any trainer can be checked (a container wrapper, a Python script); crossin
// checks its own `crossin trainer run` with it.
package conformance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/crossin-lab/crossin/jobdata"
	"github.com/crossin-lab/crossin/template"
	"github.com/crossin-lab/crossin/trainer"
)

// Config says what to check.
type Config struct {
	// Command is the trainer's argv; the job spec path is appended.
	Command []string
	Env     []string // extra environment for the command
	// ModelDir is a small Hugging Face Llama-family model directory.
	ModelDir string
	Template string // prompt template of the model (default alpaca)
	// WorkDir holds the specs and outputs (a temp dir if empty).
	WorkDir string
	// Steps is the training length of the train job (default 6). The
	// resume check trains up to 16 times longer when the trainer finishes
	// before it can be killed.
	Steps int
	// Timeout bounds each trainer run (default 5 minutes).
	Timeout time.Duration
}

// Result is one named check.
type Result struct {
	Name    string
	Err     error // nil: passed
	Skipped string
}

func (r Result) String() string {
	switch {
	case r.Skipped != "":
		return fmt.Sprintf("SKIP %s: %s", r.Name, r.Skipped)
	case r.Err != nil:
		return fmt.Sprintf("FAIL %s: %v", r.Name, r.Err)
	}
	return "ok   " + r.Name
}

// Failed reports whether any result failed.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if r.Err != nil {
			return true
		}
	}
	return false
}

// Run runs every check in order and returns their results; later checks
// that need an earlier one's output are skipped when it failed.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	if len(cfg.Command) == 0 {
		return nil, errors.New("conformance: no trainer command")
	}
	if cfg.ModelDir == "" {
		return nil, errors.New("conformance: no model directory")
	}
	if cfg.Template == "" {
		cfg.Template = "alpaca"
	}
	if cfg.Steps <= 0 {
		cfg.Steps = 6
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Minute
	}
	if cfg.WorkDir == "" {
		d, err := os.MkdirTemp("", "crossin-conformance-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		cfg.WorkDir = d
	}
	abs, err := filepath.Abs(cfg.WorkDir)
	if err != nil {
		return nil, err
	}
	cfg.WorkDir = abs
	if cfg.ModelDir, err = filepath.Abs(cfg.ModelDir); err != nil {
		return nil, err
	}
	s := &suite{cfg: cfg}
	if err := s.fixtures(); err != nil {
		return nil, err
	}
	var rs []Result
	add := func(name string, fn func(context.Context) error) bool {
		err := fn(ctx)
		var sk skip
		if errors.As(err, &sk) {
			rs = append(rs, Result{Name: name, Skipped: string(sk)})
			return true
		}
		rs = append(rs, Result{Name: name, Err: err})
		return err == nil
	}
	add("bad spec fails cleanly", s.badSpec)
	if add("train job layout and manifest", s.train) {
		add("train determinism across threads", s.determinism)
		add("train resume after kill -9", s.resume)
		add("eval loglik predictions", func(ctx context.Context) error { return s.eval(ctx, "loglik") })
		add("eval generate predictions", func(ctx context.Context) error { return s.eval(ctx, "generate") })
	} else {
		for _, n := range []string{"train determinism across threads", "train resume after kill -9", "eval loglik predictions", "eval generate predictions"} {
			rs = append(rs, Result{Name: n, Skipped: "train job failed"})
		}
	}
	return rs, nil
}

type skip string

func (s skip) Error() string { return string(s) }

type suite struct {
	cfg       Config
	trainData string
	evalData  string
	mixture   string         // the text records trainData was tokenized from
	tokenized map[int]string // optimiser steps -> tokenized train data
	trainOut  string
	trainMan  *trainer.Manifest
}

// Fixture data: synthetic, tiny, and in the formats of the contract. The
// content does not matter for conformance, only the shapes.
func (s *suite) fixtures() error {
	var b bytes.Buffer
	langs := []string{"en", "zh", "vi"}
	for i := 0; i < 24; i++ {
		src, tgt := langs[i%3], langs[(i+1)%3]
		rec := map[string]any{
			"id": fmt.Sprintf("conf-%d", i), "mode": "x2x", "src_lang": src, "tgt_lang": tgt,
			"instruction": fmt.Sprintf("Count to %d.", i%7+1),
			"input":       "",
			"output":      strings.TrimSpace(strings.Repeat("one two three ", i%4+1)),
			"source_ids":  []string{fmt.Sprint(i)},
		}
		line, _ := json.Marshal(rec)
		b.Write(line)
		b.WriteByte('\n')
	}
	mix := filepath.Join(s.cfg.WorkDir, "mixture.jsonl")
	if err := os.WriteFile(mix, b.Bytes(), 0o666); err != nil {
		return err
	}
	s.mixture = mix
	tokens, err := s.tokens(s.cfg.Steps)
	if err != nil {
		return err
	}
	s.trainData = tokens
	b.Reset()
	for i := 0; i < 3; i++ {
		q := map[string]any{"id": fmt.Sprintf("q%d", i)}
		for _, lang := range []string{"English", "Chinese"} {
			choices := []string{"(A) red", "(B) green", "(C) blue", "(D) black"}
			q[lang] = map[string]any{
				"context":  "",
				"question": fmt.Sprintf("%s question %d: which colour is the sky?", lang, i),
				"choices":  choices,
				"answer":   choices[2],
			}
		}
		line, _ := json.Marshal(q)
		b.Write(line)
		b.WriteByte('\n')
	}
	s.evalData = filepath.Join(s.cfg.WorkDir, "bench.jsonl")
	return os.WriteFile(s.evalData, b.Bytes(), 0o666)
}

// tokens returns the fixture's train data tokenized for a job of the given
// number of optimiser steps: in contract v2 the steps are laid out in the
// data (the way the runner writes them, package jobdata, with the model's
// tokenizer), so a longer job needs its own file.
func (s *suite) tokens(steps int) (string, error) {
	if p, ok := s.tokenized[steps]; ok {
		return p, nil
	}
	tp := s.trainParams()
	tp.MaxSteps = steps
	p, _, err := jobdata.PrepareTrain(s.cfg.ModelDir, template.Template(s.cfg.Template), []string{s.mixture},
		tp, 7, filepath.Join(s.cfg.WorkDir, fmt.Sprintf("inputs-train-%d", steps)))
	if err != nil {
		return "", fmt.Errorf("fixtures: %w", err)
	}
	if s.tokenized == nil {
		s.tokenized = map[int]string{}
	}
	s.tokenized[steps] = p
	return p, nil
}

func (s *suite) trainParams() *trainer.TrainParams {
	return &trainer.TrainParams{
		LoRA:         trainer.LoRA{R: 4, Alpha: 8, Dropout: 0.05, TargetModules: []string{"q_proj", "v_proj"}},
		LearningRate: 1e-3, Epochs: 1, MaxSteps: s.cfg.Steps, BatchSize: 2, GradAccum: 1,
		MaxLength: 64, Scheduler: "cosine", WarmupRatio: 0.1, WeightDecay: 0.01, MaxGradNorm: 1,
		CheckpointEvery: 1,
	}
}

func (s *suite) trainSpec(out string, threads int) *trainer.JobSpec {
	return &trainer.JobSpec{
		Contract:  trainer.Contract,
		Kind:      trainer.KindTrain,
		Model:     trainer.ModelRef{Dir: s.cfg.ModelDir},
		Data:      []string{s.trainData},
		Train:     s.trainParams(),
		Seed:      7,
		OutputDir: out,
		Threads:   threads,
	}
}

func (s *suite) writeSpec(name string, spec any) (string, error) {
	data, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return "", err
	}
	p := filepath.Join(s.cfg.WorkDir, name+".json")
	return p, os.WriteFile(p, data, 0o666)
}

// command builds the trainer process for a spec file.
func (s *suite) command(ctx context.Context, specPath string) (*exec.Cmd, *bytes.Buffer) {
	argv := append(append([]string{}, s.cfg.Command...), specPath)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), s.cfg.Env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	return cmd, &out
}

func (s *suite) runSpec(ctx context.Context, name string, spec any) error {
	_, err := s.runSpecOutput(ctx, name, spec)
	return err
}

// runSpecOutput runs the trainer on spec and returns its stdout and stderr.
func (s *suite) runSpecOutput(ctx context.Context, name string, spec any) ([]byte, error) {
	p, err := s.writeSpec(name, spec)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	cmd, out := s.command(ctx, p)
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("trainer %s: %v\n%s", name, err, tail(out.String()))
	}
	return out.Bytes(), nil
}

func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return s
}

func (s *suite) badSpec(ctx context.Context) error {
	out := filepath.Join(s.cfg.WorkDir, "bad")
	spec := s.trainSpec(out, 0)
	spec.Data = []string{filepath.Join(s.cfg.WorkDir, "no-such-file.jsonl")}
	err := s.runSpec(ctx, "bad", spec)
	if err == nil {
		return errors.New("trainer exited 0 for a job whose data file does not exist")
	}
	if _, err := os.Stat(filepath.Join(out, trainer.ManifestFile)); err == nil {
		return errors.New("failed job wrote manifest.json")
	}
	// Unknown fields are an error too.
	// A spec that could not be written would fail the trainer too and pass
	// this check for the wrong reason: a failed write is the suite's error.
	p := filepath.Join(s.cfg.WorkDir, "unknown-field.json")
	data, err := json.Marshal(s.trainSpec(filepath.Join(s.cfg.WorkDir, "bad2"), 0))
	if err != nil {
		return err
	}
	data = append(data[:len(data)-1], []byte(`,"no_such_field":1}`)...)
	if err := os.WriteFile(p, data, 0o666); err != nil {
		return err
	}
	cmd, _ := s.command(ctx, p)
	if cmd.Run() == nil {
		return errors.New("trainer accepted a job spec with an unknown field")
	}
	return nil
}

// The thread counts of the determinism check: both explicit, so that they
// differ even on a one-CPU machine (where 0, "all", would mean 1).
const (
	threadsA = 1
	threadsB = 4
)

func (s *suite) train(ctx context.Context) error {
	s.trainOut = filepath.Join(s.cfg.WorkDir, "train-a")
	if err := s.runSpec(ctx, "train-a", s.trainSpec(s.trainOut, threadsA)); err != nil {
		return err
	}
	m, err := CheckLayout(s.trainOut, trainer.KindTrain)
	if err != nil {
		return err
	}
	s.trainMan = m
	return nil
}

func (s *suite) determinism(ctx context.Context) error {
	out := filepath.Join(s.cfg.WorkDir, "train-b")
	if err := s.runSpec(ctx, "train-b", s.trainSpec(out, threadsB)); err != nil {
		return err
	}
	m, err := CheckLayout(out, trainer.KindTrain)
	if err != nil {
		return err
	}
	return sameFiles(s.trainMan, m, fmt.Sprintf("threads=%d", threadsA), fmt.Sprintf("threads=%d", threadsB))
}

// resume kills a train job once it has written a checkpoint, runs it again
// and requires both proof that the second run resumed (its "resumed from
// step N" line, trainer.ResumedLine, with 0 < N < the job's steps) and
// outputs byte-identical to an uninterrupted run. A trainer that finishes
// before it can be killed is tried again on a job 4 and then 16 times
// longer (with its own uninterrupted reference); only if even that one
// finishes first is the check skipped.
func (s *suite) resume(ctx context.Context) error {
	for _, f := range []int{1, 4, 16} {
		err := s.resumeOnce(ctx, s.cfg.Steps*f)
		var sk skip
		if errors.As(err, &sk) && f < 16 {
			continue
		}
		return err
	}
	return nil
}

func (s *suite) resumeOnce(ctx context.Context, steps int) error {
	name := fmt.Sprintf("train-killed-%d", steps)
	out := filepath.Join(s.cfg.WorkDir, name)
	spec := s.trainSpec(out, threadsA)
	spec.Train.MaxSteps = steps
	data, err := s.tokens(steps)
	if err != nil {
		return err
	}
	spec.Data = []string{data}
	p, err := s.writeSpec(name, spec)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	cmd, _ := s.command(ctx, p)
	if err := cmd.Start(); err != nil {
		return err
	}
	// Kill it as soon as it has written a checkpoint. The layout of
	// checkpoints/ is the trainer's, but a trainer writes each checkpoint
	// under a temporary name and renames it when complete (the contract's
	// atomicity), so once checkpoints/ holds two entries at least one of
	// them is complete. A single entry may be a half-written one: killing
	// then would leave nothing to resume from.
	killed := false
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
wait:
	for {
		select {
		case <-done:
			break wait
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
			return fmt.Errorf("%s: no checkpoint within %s", name, s.cfg.Timeout)
		case <-time.After(time.Millisecond):
		}
		if entries(filepath.Join(out, trainer.CheckpointDir)) >= 2 {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
			killed = true
			break
		}
	}
	if !killed {
		return skip(fmt.Sprintf("the trainer finished a %d-step job before a checkpoint could be seen; resume not exercised", steps))
	}
	if _, err := os.Stat(filepath.Join(out, trainer.ManifestFile)); err == nil {
		// Finished between the check and the kill: nothing to resume.
		return skip(fmt.Sprintf("the trainer finished a %d-step job before it was killed", steps))
	}
	printed, err := s.runSpecOutput(ctx, name, spec)
	if err != nil {
		return fmt.Errorf("resumed run: %w", err)
	}
	m, err := CheckLayout(out, trainer.KindTrain)
	if err != nil {
		return err
	}
	logged, err := os.ReadFile(filepath.Join(out, trainer.LogFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	step, ok := trainer.ResumedStep(append(logged, printed...))
	if !ok {
		return fmt.Errorf("the run after kill -9 does not say it resumed (no line %q in %s or its output): a trainer that ignores %s/ and starts over gives the same bytes, so the contract requires the line (docs/trainer-contract.md)", trainer.ResumedLine(0)[:len("resumed from step ")]+"N", trainer.LogFile, trainer.CheckpointDir)
	}
	if step == steps {
		// Killed after its last checkpoint but before its manifest: the
		// resume had nothing left to train. Too fast to exercise; retry
		// on a longer job.
		return skip(fmt.Sprintf("the trainer was killed after the last step of a %d-step job", steps))
	}
	if step < 1 || step > steps {
		return fmt.Errorf("the run after kill -9 says it resumed from step %d of a %d-step job (want 0 < N < %d)", step, steps, steps)
	}
	ref := s.trainMan
	if steps != s.cfg.Steps {
		refOut := filepath.Join(s.cfg.WorkDir, fmt.Sprintf("train-ref-%d", steps))
		refSpec := s.trainSpec(refOut, threadsA)
		refSpec.Train.MaxSteps = steps
		refSpec.Data = spec.Data
		if err := s.runSpec(ctx, fmt.Sprintf("train-ref-%d", steps), refSpec); err != nil {
			return err
		}
		if ref, err = CheckLayout(refOut, trainer.KindTrain); err != nil {
			return err
		}
	}
	return sameFiles(ref, m, "uninterrupted", "killed and resumed")
}

// entries counts the entries directly in dir (0 when it does not exist).
func entries(dir string) int {
	es, _ := os.ReadDir(dir)
	return len(es)
}

func (s *suite) eval(ctx context.Context, mode string) error {
	out := filepath.Join(s.cfg.WorkDir, "eval-"+mode)
	ev := &trainer.EvalParams{
		Benchmark: "cross_mmlu", Languages: []string{"English", "Chinese"},
		PromptTemplate: 1, Mode: mode, MaxNewTokens: 8,
	}
	prep, err := jobdata.PrepareEval(s.cfg.ModelDir, s.evalData, ev, template.Template(s.cfg.Template), filepath.Join(s.cfg.WorkDir, "inputs-eval-"+mode))
	if err != nil {
		return fmt.Errorf("fixtures: %w", err)
	}
	spec := &trainer.JobSpec{
		Contract:  trainer.Contract,
		Kind:      trainer.KindEval,
		Model:     trainer.ModelRef{Dir: s.cfg.ModelDir},
		Adapter:   filepath.Join(s.trainOut, trainer.AdapterDir),
		Data:      []string{prep.Path},
		Eval:      ev,
		Seed:      7,
		OutputDir: out,
	}
	if err := s.runSpec(ctx, "eval-"+mode, spec); err != nil {
		return err
	}
	if _, err := CheckLayout(out, trainer.KindEval); err != nil {
		return err
	}
	// The runner's side: decode the outputs into predictions.
	preds, err := prep.Finish(out)
	if err != nil {
		return err
	}
	if len(preds) != 3 {
		return fmt.Errorf("predictions: %d questions, want 3", len(preds))
	}
	for i, p := range preds {
		if want := fmt.Sprintf("q%d", i); p.ID != want {
			return fmt.Errorf("predictions line %d: id %q, want %q (benchmark order)", p.Line, p.ID, want)
		}
		for _, lang := range []string{"English", "Chinese"} {
			if _, ok := p.Output[lang]; !ok {
				return fmt.Errorf("predictions line %d: no %s answer", p.Line, lang)
			}
			if mode == "loglik" {
				ll := p.LogLik[lang]
				if len(ll) != 4 {
					return fmt.Errorf("predictions line %d: %s has %d option log-likelihoods, want 4", p.Line, lang, len(ll))
				}
				for _, v := range ll {
					if math.IsNaN(v) || v > 0 {
						return fmt.Errorf("predictions line %d: %s log-likelihood %v is not a log-probability", p.Line, lang, v)
					}
				}
			}
		}
	}
	return nil
}

// CheckLayout verifies a finished job's output directory against the
// contract and returns its manifest.
func CheckLayout(dir, kind string) (*trainer.Manifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, trainer.ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("no manifest: %w", err)
	}
	var m trainer.Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	if m.Contract != trainer.Contract {
		return nil, fmt.Errorf("manifest.json: contract %q, want %q", m.Contract, trainer.Contract)
	}
	if m.Kind != kind {
		return nil, fmt.Errorf("manifest.json: kind %q, want %q", m.Kind, kind)
	}
	if m.Trainer == "" {
		return nil, errors.New("manifest.json: no trainer name")
	}
	var required []string
	switch kind {
	case trainer.KindTrain:
		required = []string{trainer.AdapterDir + "/adapter_config.json", trainer.AdapterDir + "/adapter_model.safetensors", trainer.LossFile}
	case trainer.KindEval:
		required = []string{trainer.OutputsFile}
	}
	for _, r := range required {
		if _, ok := m.Files[r]; !ok {
			return nil, fmt.Errorf("manifest.json: required output %s not listed", r)
		}
	}
	// Every listed file exists with its hash; every output file is listed.
	seen := map[string]bool{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == trainer.CheckpointDir {
				return fs.SkipDir
			}
			return nil
		}
		if rel == trainer.ManifestFile || rel == trainer.LogFile {
			return nil
		}
		want, ok := m.Files[rel]
		if !ok {
			return fmt.Errorf("output file %s is not listed in manifest.json", rel)
		}
		got, err := fileSum(p)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("manifest.json: %s is %s, file hashes to %s", rel, want, got)
		}
		seen[rel] = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	for f := range m.Files {
		if !seen[f] {
			return nil, fmt.Errorf("manifest.json lists %s, which does not exist", f)
		}
	}
	if kind == trainer.KindTrain {
		if err := checkLoss(filepath.Join(dir, trainer.LossFile)); err != nil {
			return nil, err
		}
	}
	return &m, nil
}

func checkLoss(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var lc trainer.LossCurve
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&lc); err != nil {
		return fmt.Errorf("loss.json: %w", err)
	}
	if len(lc.Steps) == 0 {
		return errors.New("loss.json: no steps")
	}
	for i, p := range lc.Steps {
		if p.Step != i+1 {
			return fmt.Errorf("loss.json: entry %d is step %d, want %d", i, p.Step, i+1)
		}
		if math.IsNaN(p.Loss) || math.IsInf(p.Loss, 0) || p.Loss < 0 {
			return fmt.Errorf("loss.json: step %d loss %v", p.Step, p.Loss)
		}
	}
	return nil
}

func fileSum(p string) (string, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(h[:]), nil
}

func sameFiles(a, b *trainer.Manifest, an, bn string) error {
	var diffs []string
	keys := map[string]bool{}
	for k := range a.Files {
		keys[k] = true
	}
	for k := range b.Files {
		keys[k] = true
	}
	var sorted []string
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		if a.Files[k] != b.Files[k] {
			diffs = append(diffs, k)
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("outputs differ between %s and %s runs: %s", an, bn, strings.Join(diffs, ", "))
	}
	return nil
}
