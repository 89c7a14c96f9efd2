package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/crossin-lab/crossin/engine/model"
	"github.com/crossin-lab/crossin/trainer"
	"github.com/crossin-lab/crossin/trainer/conformance"
	"github.com/crossin-lab/crossin/trainer/embedded"
)

// trainerCmd is `crossin trainer`: run contract jobs, check conformance.
func trainerCmd() *cobra.Command {
	g := &cobra.Command{Use: "trainer", Short: "Run trainer jobs (trainer contract v1) and check trainers against it"}

	run := &cobra.Command{
		Use:   "run SPEC.json",
		Short: "Run one trainer job spec with the embedded engine (docs/trainer-contract.md)",
		Long: `Run one job spec (contract crossin.trainer/v1) with the embedded pure-Go
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
		Short: "Check a trainer command against the trainer contract v1",
		Long: `Run small train and eval jobs through TRAINER-COMMAND SPEC.json and check
the exit status, the output layout, every manifest hash, the loss and
predictions formats, determinism across thread counts, resume after kill -9
and a clean failure on bad specs. Example:

    crossin trainer conformance -- crossin trainer run`,
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
	g.AddCommand(run, conf)
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
