package train

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crossin-lab/crossin/engine/lora"
	"github.com/crossin-lab/crossin/engine/tensor"
)

func tinyDims() Dims {
	d := Dims{Vocab: 61, Hidden: 16, Inter: 24, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 4, NormEps: 1e-5}
	d.InvFreq = DefaultInvFreq(10000, d.HeadDim)
	return d
}

func syntheticData(n int, vocab int, seed uint64) []Example {
	rng := rand.New(rand.NewPCG(seed, 1))
	var out []Example
	for i := 0; i < n; i++ {
		e := Example{Prompt: []int32{1}}
		for k := 0; k < 2+rng.IntN(6); k++ {
			e.Prompt = append(e.Prompt, int32(3+rng.IntN(vocab-3)))
		}
		// A learnable response: the prompt's second token repeated, then EOS.
		for k := 0; k < 2+rng.IntN(4); k++ {
			e.Response = append(e.Response, e.Prompt[1])
		}
		e.Response = append(e.Response, 2)
		out = append(out, e)
	}
	return out
}

func tinyParams(steps int) Config {
	return Config{
		LoRA:         LoRAParams{R: 4, Alpha: 8, Dropout: 0.1, TargetModules: lora.Modules},
		LearningRate: 2e-2, MaxSteps: steps, BatchSize: 3, GradAccum: 2, MaxLength: 12,
		Scheduler: "cosine", WarmupRatio: 0.1, WeightDecay: 0.01, MaxGradNorm: 1.0, CheckpointEvery: 2,
	}
}

func adapterBytes(t *testing.T, a *lora.Adapter) []byte {
	t.Helper()
	dir := t.TempDir()
	if err := a.Save(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, lora.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// parallelDims is a model just large enough that its products split over
// goroutines (tensor.RunsParallel): with tinyDims every product would run
// on one goroutine and a determinism test across threads could not fail.
func parallelDims() Dims {
	d := Dims{Vocab: 256, Hidden: 64, Inter: 128, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 16, NormEps: 1e-5}
	d.InvFreq = DefaultInvFreq(10000, d.HeadDim)
	return d
}

func TestRunDeterministicAcrossThreads(t *testing.T) {
	d := parallelDims()
	base := RandomBase(d, 5)
	data := syntheticData(40, base.Vocab, 9)
	params := tinyParams(12)
	params.BatchSize = 8
	params.MaxLength = 16
	// Every micro-batch has at least BatchSize × 6 token rows (the
	// shortest synthetic example); the LM head and MLP products of that
	// many rows must run in parallel.
	rows := params.BatchSize * 6
	for _, s := range [][3]int{{rows, d.Vocab, d.Hidden}, {rows, d.Inter, d.Hidden}} {
		if !tensor.RunsParallel(s[0], s[1], s[2]) {
			t.Fatalf("product %v runs serially: enlarge parallelDims", s)
		}
	}
	var ref []byte
	var refCurve LossCurve
	for _, procs := range []int{1, 2, 3} {
		old := runtime.GOMAXPROCS(procs)
		res, err := Run(context.Background(), base, data, params, WithSeed(42), WithThreads(procs))
		runtime.GOMAXPROCS(old)
		if err != nil {
			t.Fatal(err)
		}
		b := adapterBytes(t, res.Adapter)
		if ref == nil {
			ref, refCurve = b, res.Curve
			first, last := res.Curve.Steps[0].Loss, res.Curve.Steps[len(res.Curve.Steps)-1].Loss
			if !(last < first) {
				t.Errorf("loss did not go down: %v -> %v", first, last)
			}
			continue
		}
		if !bytes.Equal(b, ref) {
			t.Errorf("GOMAXPROCS=%d: adapter differs from GOMAXPROCS=1", procs)
		}
		if fmt.Sprint(res.Curve) != fmt.Sprint(refCurve) {
			t.Errorf("GOMAXPROCS=%d: loss curve differs", procs)
		}
	}
	// A different seed must give a different adapter (the test can fail).
	res, err := Run(context.Background(), base, data, params, WithSeed(43))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(adapterBytes(t, res.Adapter), ref) {
		t.Error("seed 43 gave the same adapter as seed 42")
	}
}

// TestHelperTrainProcess is the child of TestResumeAfterKill: it trains with
// checkpoints in $CROSSIN_TRAIN_HELPER and writes the final adapter there.
func TestHelperTrainProcess(t *testing.T) {
	dir := os.Getenv("CROSSIN_TRAIN_HELPER")
	if dir == "" {
		t.Skip("helper process for TestResumeAfterKill")
	}
	base := RandomBase(tinyDims(), 5)
	data := syntheticData(20, base.Vocab, 9)
	opts := []Option{WithSeed(42), WithCheckpoints(filepath.Join(dir, "checkpoints"))}
	if os.Getenv("CROSSIN_TRAIN_SLOW") != "" {
		// Slow the steps down so the parent can kill the process mid-run.
		opts = append(opts, WithCallback(progressFunc(func(int, int, string) { time.Sleep(40 * time.Millisecond) })))
	}
	res, err := Run(context.Background(), base, data, tinyParams(30), opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Adapter.Save(filepath.Join(dir, "adapter")); err != nil {
		t.Fatal(err)
	}
	if err := WriteLossCurve(filepath.Join(dir, "loss.json"), res.Curve); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("resumed-from %d\n", res.Resumed)
}

type progressFunc func(done, total int, msg string)

func (f progressFunc) Update(done, total int, msg string) { f(done, total, msg) }

func TestResumeAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	helper := func(slow bool) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperTrainProcess$", "-test.v")
		cmd.Env = append(os.Environ(), "CROSSIN_TRAIN_HELPER="+dir)
		if slow {
			cmd.Env = append(cmd.Env, "CROSSIN_TRAIN_SLOW=1")
		}
		return cmd
	}
	cmd := helper(true)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once a checkpoint past step 6 exists, i.e. mid-run.
	deadline := time.Now().Add(60 * time.Second)
	for {
		steps, _ := listCheckpoints(filepath.Join(dir, "checkpoints"))
		if len(steps) > 0 && steps[len(steps)-1] >= 6 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no checkpoint after 60s:\n%s", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if _, err := os.Stat(filepath.Join(dir, "adapter")); err == nil {
		t.Fatal("the helper finished before it was killed; the test proves nothing")
	}
	// Resume to the end.
	b, err := helper(false).CombinedOutput()
	if err != nil {
		t.Fatalf("resumed run: %v\n%s", err, b)
	}
	if !strings.Contains(string(b), "resumed-from ") || strings.Contains(string(b), "resumed-from 0\n") {
		t.Fatalf("the second run did not resume:\n%s", b)
	}
	// An uninterrupted run in this process.
	base := RandomBase(tinyDims(), 5)
	res, err := Run(context.Background(), base, syntheticData(20, base.Vocab, 9), tinyParams(30), WithSeed(42))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "adapter", lora.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, adapterBytes(t, res.Adapter)) {
		t.Error("resumed adapter differs from the uninterrupted run")
	}
	curve := filepath.Join(t.TempDir(), "loss.json")
	if err := WriteLossCurve(curve, res.Curve); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(curve)
	c, _ := os.ReadFile(filepath.Join(dir, "loss.json"))
	if !bytes.Equal(a, c) {
		t.Errorf("resumed loss curve differs:\n%s\nvs\n%s", c, a)
	}
}

func TestResumeRefusesOtherSettings(t *testing.T) {
	base := RandomBase(tinyDims(), 5)
	data := syntheticData(20, base.Vocab, 9)
	dir := t.TempDir()
	if _, err := Run(context.Background(), base, data, tinyParams(4), WithSeed(1), WithCheckpoints(dir)); err != nil {
		t.Fatal(err)
	}
	p := tinyParams(4)
	p.LearningRate = 1e-3
	_, err := Run(context.Background(), base, data, p, WithSeed(1), WithCheckpoints(dir))
	if err == nil || !strings.Contains(err.Error(), "other data or settings") {
		t.Fatalf("want a fingerprint error, got %v", err)
	}
}

func TestRunBadInput(t *testing.T) {
	base := RandomBase(tinyDims(), 5)
	good := syntheticData(4, base.Vocab, 9)
	cases := []struct {
		name string
		data []Example
		p    func(*Config)
		want string
	}{
		{"no data", nil, nil, "no training examples"},
		{"oov", []Example{{Prompt: []int32{1}, Response: []int32{999}}}, nil, "outside the model's vocabulary"},
		{"truncated away", []Example{{Prompt: []int32{1, 2, 3, 4}, Response: []int32{5}}}, func(p *Config) { p.MaxLength = 3 }, "has a response token within max_length"},
		{"lr", good, func(p *Config) { p.LearningRate = 0 }, "learning_rate"},
		{"steps", good, func(p *Config) { p.MaxSteps, p.Epochs = 0, 0 }, "epochs or max_steps"},
		{"scheduler", good, func(p *Config) { p.Scheduler = "step" }, "scheduler"},
		{"rank", good, func(p *Config) { p.LoRA.R = -1 }, "rank"},
		{"target", good, func(p *Config) { p.LoRA.TargetModules = []string{"lm_head"} }, "unknown target module"},
		{"modules_to_save", good, func(p *Config) { p.LoRA.ModulesToSave = []string{"norm"} }, "modules_to_save \"norm\""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := tinyParams(2)
			if c.p != nil {
				c.p(&p)
			}
			_, err := Run(context.Background(), base, c.data, p)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error with %q", err, c.want)
			}
		})
	}
}

func TestProgressLine(t *testing.T) {
	base := RandomBase(tinyDims(), 5)
	var buf bytes.Buffer
	res, err := Run(context.Background(), base, syntheticData(6, base.Vocab, 9), tinyParams(3), WithProgress(&buf, true))
	if err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"\rstep 1/3 loss ", "\rstep 3/3 loss ", " tok/s ETA ", "\x1b[K"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress output lacks %q:\n%q", want, out)
		}
	}
	if len(res.Curve.Steps) != 3 || res.Curve.Steps[2].Step != 3 || res.Curve.Steps[0].Tokens == 0 || res.Curve.Steps[1].GradNorm == 0 {
		t.Errorf("loss curve %+v", res.Curve)
	}
}

// TestModulesToSaveRun trains the LM head and the embedding in full next to
// the LoRA pairs: deterministic across threads, and an in-process
// stop-and-resume ends identical to an uninterrupted run.
func TestModulesToSaveRun(t *testing.T) {
	base := RandomBase(tinyDims(), 5)
	data := syntheticData(12, base.Vocab, 9)
	p := tinyParams(6)
	p.LoRA.ModulesToSave = []string{"lm_head", "embed_tokens"}
	var ref []byte
	for _, threads := range []int{1, 2} {
		old := runtime.GOMAXPROCS(threads)
		res, err := Run(context.Background(), base, data, p, WithSeed(7), WithThreads(threads))
		runtime.GOMAXPROCS(old)
		if err != nil {
			t.Fatal(err)
		}
		if h := res.Adapter.GetSaved("lm_head"); h == nil || bytes.Equal(f32bytes(h.W), f32bytes(base.LMHead)) {
			t.Fatal("lm_head was not trained")
		}
		b := adapterBytes(t, res.Adapter)
		if ref == nil {
			ref = b
		} else if !bytes.Equal(b, ref) {
			t.Error("threads 2 differs from threads 1")
		}
	}
	dir := t.TempDir()
	if _, err := Run(context.Background(), base, data, p, WithSeed(7), WithCheckpoints(dir), withStopAfter(3)); err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), base, data, p, WithSeed(7), WithCheckpoints(dir))
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed != 2 {
		t.Fatalf("resumed from %d, want the step-2 checkpoint", res.Resumed)
	}
	if !bytes.Equal(adapterBytes(t, res.Adapter), ref) {
		t.Error("resumed run with modules_to_save differs from the uninterrupted one")
	}
}

func f32bytes(v []float32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		b = fmt.Appendf(b, "%x,", x)
	}
	return b
}
