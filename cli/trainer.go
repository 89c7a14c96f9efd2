package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/crossin-lab/crossin/atomicfile"
	"github.com/crossin-lab/crossin/backend/kubernetes"
	"github.com/crossin-lab/crossin/engine/model"
	"github.com/crossin-lab/crossin/jobdata"
	"github.com/crossin-lab/crossin/template"
	"github.com/crossin-lab/crossin/trainer"
	"github.com/crossin-lab/crossin/trainer/conformance"
	"github.com/crossin-lab/crossin/trainer/embedded"
)

// trainerCmd is `crossin trainer`: run contract jobs, check conformance.
func trainerCmd() *cobra.Command {
	g := &cobra.Command{Use: "trainer", Short: "Run trainer jobs (trainer contract v2), prepare them for other trainers, check trainers against the contract"}

	run := &cobra.Command{
		Use:   "run SPEC.json",
		Short: "Run one trainer job spec with the embedded engine (docs/trainer-contract.md)",
		Long: `Run one job spec (contract crossin.trainer/v2) with the embedded pure-Go
engine and write the contract's output layout into its output_dir, ending
with manifest.json. A train job that was interrupted resumes from
output_dir/checkpoints. This is what a container backend runs.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			job, err := trainer.ReadJobSpec(args[0])
			if err != nil {
				return err
			}
			t := embedded.New()
			m, err := t.Run(cmd.Context(), job, &lineProgress{w: cmd.ErrOrStderr()})
			if err != nil {
				return fmt.Errorf("trainer run %s: %w", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s job done: %d output files in %s\n", m.Kind, len(m.Files), job.OutputDir)
			return nil
		},
	}

	var modelDir, template, workDir string
	var steps int
	conf := &cobra.Command{
		Use:   "conformance [--model DIR] -- TRAINER-COMMAND [ARGS...]",
		Short: "Check a trainer command against the trainer contract v2",
		Long: `Run small train and eval jobs through TRAINER-COMMAND SPEC.json and check
the exit status, the output layout, every manifest hash, the loss and
predictions formats, determinism across thread counts, resume after kill -9
and a clean failure on bad specs. Example:

    crossin trainer conformance -- crossin trainer run
    crossin trainer conformance --model tiny -- crossin-trainer-hf`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if workDir == "" {
				d, err := os.MkdirTemp("", "crossin-conformance-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(d)
				workDir = d
			}
			if modelDir == "" {
				modelDir = filepath.Join(workDir, "model")
				if err := trainerTestModel(modelDir); err != nil {
					return err
				}
			}
			rs, err := conformance.Run(cmd.Context(), conformance.Config{
				Command: args, ModelDir: modelDir, Template: template, WorkDir: workDir, Steps: steps,
			})
			if err != nil {
				return err
			}
			for _, r := range rs {
				fmt.Fprintln(cmd.OutOrStdout(), r)
			}
			if conformance.Failed(rs) {
				return fmt.Errorf("trainer %q does not conform to %s", args, trainer.Contract)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "trainer conforms to %s\n", trainer.Contract)
			return nil
		},
	}
	conf.Flags().StringVar(&modelDir, "model", "", "small Hugging Face Llama model directory (default: a tiny random one)")
	conf.Flags().StringVar(&template, "template", "alpaca", "prompt template of the model")
	conf.Flags().StringVar(&workDir, "work", "", "keep specs and outputs in this directory")
	conf.Flags().IntVar(&steps, "steps", 6, "optimiser steps of the train job")
	g.AddCommand(run, conf, prepareCmd(), remoteRunCmd())
	return g
}

// remoteRunCmd is `crossin trainer remote-run`: what a kubernetes
// backend's pod runs when no filesystem is shared (kubernetes.RemoteRun).
func remoteRunCmd() *cobra.Command {
	r := &kubernetes.RemoteRun{}
	c := &cobra.Command{
		Use:    "remote-run --repository REPO --action ID --output DIR [--input REF=DIR]... -- TRAINER-COMMAND...",
		Short:  "Pull a job's inputs from an OCI registry, run the trainer, push its outputs (kubernetes pods without a shared filesystem)",
		Hidden: true,
		Args:   cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r.Command = args
			r.Stdout, r.Stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
			return r.Run(cmd.Context())
		},
	}
	c.Flags().StringVar(&r.Repository, "repository", "", "REGISTRY/REPOSITORY the outputs are pushed to")
	c.Flags().StringVar(&r.Action, "action", "", "action ID of the output entry")
	c.Flags().StringVar(&r.OutputDir, "output", "", "the trainer's output directory")
	c.Flags().StringArrayVar(&r.Inputs, "input", nil, "REGISTRY/REPOSITORY@sha256:...=DIR: an input entry and where to unpack it")
	c.Flags().StringVar(&r.TerminationLog, "termination-log", "/dev/termination-log", "file that receives the output entry's reference")
	return c
}

// prepareCmd is `crossin trainer prepare train|eval`: the runner's job
// preparation on its own, for running another trainer by hand (a GPU
// trainer on a box without the crossin cache, a parity check).
func prepareCmd() *cobra.Command {
	var modelDir, tmpl, params, out string
	var seed int64
	var data []string
	g := &cobra.Command{Use: "prepare", Short: "Write a contract v2 job (spec.json + tokenized inputs) as the runner would"}
	write := func(cmd *cobra.Command, job *trainer.JobSpec) error {
		job.Contract = trainer.Contract
		job.Model = trainer.ModelRef{Dir: modelDir}
		abs, err := filepath.Abs(out)
		if err != nil {
			return err
		}
		job.OutputDir = filepath.Join(abs, "out")
		if err := job.Validate(); err != nil {
			return err
		}
		b, err := json.MarshalIndent(job, "", "  ")
		if err != nil {
			return err
		}
		p := filepath.Join(abs, "spec.json")
		if err := atomicfile.Write(p, append(b, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), p)
		return nil
	}
	readParams := func(v any) error {
		if params == "" {
			return Usagef("prepare: --params FILE is required (the job's train or eval object, contract v2 names)")
		}
		b, err := os.ReadFile(params)
		if err != nil {
			return err
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			return fmt.Errorf("%s: %w", params, err)
		}
		return nil
	}
	train := &cobra.Command{
		Use:   "train --model DIR --data MIX.jsonl --params TRAIN.json -o DIR",
		Short: "Tokenize a mixture into a train job (steps in training order)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var tp trainer.TrainParams
			if err := readParams(&tp); err != nil {
				return err
			}
			abs, err := filepath.Abs(out)
			if err != nil {
				return err
			}
			tokens, st, err := jobdata.PrepareTrain(modelDir, template.Template(tmpl), data, &tp, seed, abs)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%d examples, %d steps, %d tokens; %d cut at max_length, %d dropped\n", st.Examples, st.Steps, st.Tokens, st.Truncated, st.Dropped)
			if tp.InitAdapter != "" {
				if tp.InitAdapter, err = filepath.Abs(tp.InitAdapter); err != nil {
					return err
				}
			}
			return write(cmd, &trainer.JobSpec{Kind: trainer.KindTrain, Data: []string{tokens}, Train: &tp, Seed: seed})
		},
	}
	var wrap, adapter string
	eval := &cobra.Command{
		Use:   "eval --model DIR --data BENCH.jsonl --params EVAL.json -o DIR",
		Short: "Tokenize benchmark prompts into an eval job",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var ev trainer.EvalParams
			if err := readParams(&ev); err != nil {
				return err
			}
			if len(data) != 1 {
				return Usagef("prepare eval: give one --data benchmark file")
			}
			abs, err := filepath.Abs(out)
			if err != nil {
				return err
			}
			prep, err := jobdata.PrepareEval(modelDir, data[0], &ev, template.Template(wrap), abs)
			if err != nil {
				return err
			}
			job := &trainer.JobSpec{Kind: trainer.KindEval, Data: []string{prep.Path}, Eval: &ev, Seed: seed}
			if adapter != "" {
				if job.Adapter, err = filepath.Abs(adapter); err != nil {
					return err
				}
			}
			return write(cmd, job)
		},
	}
	for _, c := range []*cobra.Command{train, eval} {
		f := c.Flags()
		f.StringVar(&modelDir, "model", "", "Hugging Face model directory (its tokenizer.json tokenizes)")
		f.StringArrayVar(&data, "data", nil, "mixture JSONL (train, repeatable) or benchmark file (eval)")
		f.StringVar(&params, "params", "", "JSON file with the job's train or eval object (contract v2 names)")
		f.Int64Var(&seed, "seed", 42, "the job's seed")
		f.StringVarP(&out, "output", "o", "", "directory for spec.json, the tokenized inputs and out/")
		c.MarkFlagRequired("model")
		c.MarkFlagRequired("data")
		c.MarkFlagRequired("output")
	}
	train.Flags().StringVar(&tmpl, "template", "alpaca", "prompt template (alpaca, llama, gemma)")
	eval.Flags().StringVar(&wrap, "wrap", "", "wrap benchmark prompts in this training template (default: raw)")
	eval.Flags().StringVar(&adapter, "adapter", "", "PEFT adapter to evaluate")
	g.AddCommand(train, eval)
	return g
}

// lineProgress prints a trainer's progress as occasional plain lines.
type lineProgress struct {
	w    interface{ Write([]byte) (int, error) }
	last time.Time
}

func (p *lineProgress) Update(done, total int, msg string) {
	if time.Since(p.last) < 2*time.Second && done != total {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, "%d/%d %s\n", done, total, msg)
}

// trainerTestModel writes the conformance suite's default model to dir: a
// tiny random Llama with the repository's Llama-2 tokenizer, found from the
// working directory.
func trainerTestModel(dir string) error {
	tok, err := findUp(filepath.Join("experiments", "assets", "tokenizer", "tokenizer.json"))
	if err != nil {
		return Usagef("--model DIR is required outside the crossin repository (%v)", err)
	}
	return model.Init(dir, model.InitConfig{Layers: 1, Hidden: 16, Heads: 2, Intermediate: 32, Tokenizer: tok, Seed: 1, MaxPositions: 512})
}

// findUp looks for rel in the working directory and its parents.
func findUp(rel string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%s not found in the working directory or above", rel)
		}
		dir = parent
	}
}
