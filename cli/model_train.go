package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/crossin-lab/crossin/engine/lora"
	"github.com/crossin-lab/crossin/engine/model"
	"github.com/crossin-lab/crossin/engine/tokenizer"
	"github.com/crossin-lab/crossin/engine/train"
	"github.com/crossin-lab/crossin/jobdata"
	"github.com/crossin-lab/crossin/template"
)

// parseLoRA parses "r=8,alpha=16,dropout=0.05,targets=q_proj+v_proj".
func parseLoRA(s string, p *train.LoRAParams) error {
	if s == "" {
		return nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return Usagef("--lora %q: want key=value pairs like r=8,alpha=16,dropout=0.05,targets=q_proj+v_proj", s)
		}
		var err error
		switch k {
		case "r", "rank":
			p.R, err = strconv.Atoi(v)
		case "alpha":
			p.Alpha, err = strconv.ParseFloat(v, 64)
		case "dropout":
			p.Dropout, err = strconv.ParseFloat(v, 64)
		case "targets", "target_modules":
			p.TargetModules = nil
			for _, m := range strings.FieldsFunc(v, func(r rune) bool { return r == '+' || r == ' ' }) {
				if m == "all" {
					p.TargetModules = append(p.TargetModules, lora.Modules...)
					continue
				}
				if _, err := lora.ModulePath(m); err != nil {
					return Usagef("--lora targets: %v", err)
				}
				p.TargetModules = append(p.TargetModules, m)
			}
		case "save", "modules_to_save":
			p.ModulesToSave = strings.FieldsFunc(v, func(r rune) bool { return r == '+' || r == ' ' })
		default:
			return Usagef("--lora: unknown key %q (want r, alpha, dropout, targets, save)", k)
		}
		if err != nil {
			return Usagef("--lora %s=%q: %v", k, v, err)
		}
	}
	return nil
}

func modelTrainCmd() *cobra.Command {
	var (
		dir, out, loraSpec, tmplName, lossPath, ckptDir, initAdapter, mergedOut string
		data                                                                    []string
		seed                                                                    int64
		threads                                                                 int
		keepCkpt, quiet                                                         bool
	)
	p := train.Config{
		LoRA:         train.LoRAParams{R: 8, Alpha: 16, Dropout: 0.05, TargetModules: []string{"q_proj", "v_proj"}},
		LearningRate: 2e-4, Epochs: 1, BatchSize: 4, GradAccum: 1, MaxLength: 512,
		Scheduler: "cosine", WarmupRatio: 0.03, MaxGradNorm: 1.0,
	}
	cmd := &cobra.Command{
		Use:   "train --model DIR --data FILE.jsonl [--lora r=8,alpha=16] [--lr 2e-4] -o ADAPTER_DIR",
		Short: "Fine-tune a LoRA adapter on the CPU (PEFT format)",
		Long: `Train fine-tunes a LoRA adapter for a Hugging Face Llama-family model directory with the
embedded engine and writes it in PEFT's format (adapter_config.json, adapter_model.safetensors)
plus loss.json. Data lines are JSON objects: {"instruction","input","output"} (rendered with
--template), {"prompt","response"} or {"prompt_ids","response_ids"}; the loss covers the
response only. The same inputs and --seed give a byte-identical adapter for any --threads.
Checkpoints go to --checkpoints (default ADAPTER_DIR/../<name>.checkpoints); running the same
command again after an interruption resumes from the newest one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" || out == "" || len(data) == 0 {
				return Usagef("model train: --model DIR, --data FILE and -o ADAPTER_DIR are required")
			}
			if err := parseLoRA(loraSpec, &p.LoRA); err != nil {
				return err
			}
			m, err := model.Load(dir)
			if err != nil {
				return err
			}
			defer m.Close()
			base, err := train.FromModel(m)
			if err != nil {
				return err
			}
			var enc jobdata.Encoder // nil: tokenized records only
			eos := -1
			if len(m.Config.EOSTokenIDs) > 0 {
				eos = m.Config.EOSTokenIDs[0]
			}
			if tok, err := tokenizer.LoadDir(dir); err == nil {
				enc = tok
				if id, ok := tok.EOS(); ok {
					eos = id
				}
			} else if _, statErr := os.Stat(filepath.Join(dir, "tokenizer.json")); statErr == nil {
				return err
			}
			var exs []train.Example
			for _, f := range data {
				pairs, err := jobdata.ReadRecords(f, enc, template.Template(tmplName), eos)
				if err != nil {
					return err
				}
				for _, p := range pairs {
					exs = append(exs, train.Example{Prompt: p.Prompt, Response: p.Response})
				}
			}
			if threads > 0 {
				// Bounds the GEMMs too; results do not depend on it.
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(threads))
			}
			opts := []train.Option{train.WithSeed(seed), train.WithThreads(threads)}
			if m.Config.PadTokenID >= 0 {
				opts = append(opts, train.WithPadID(m.Config.PadTokenID))
			}
			if ckptDir == "" {
				ckptDir = filepath.Clean(out) + ".checkpoints"
			}
			opts = append(opts, train.WithCheckpoints(ckptDir))
			if !quiet {
				live := false
				if f, ok := cmd.ErrOrStderr().(*os.File); ok {
					live = term.IsTerminal(int(f.Fd()))
				}
				opts = append(opts, train.WithProgress(cmd.ErrOrStderr(), live))
			}
			if initAdapter != "" {
				a, err := lora.Load(initAdapter)
				if err != nil {
					return err
				}
				opts = append(opts, train.WithAdapter(a))
			}
			res, err := train.Run(cmd.Context(), base, exs, p, opts...)
			if err != nil {
				return err
			}
			res.Adapter.Config.BaseModel = dir
			if err := res.Adapter.Save(out); err != nil {
				return err
			}
			if lossPath == "" {
				lossPath = filepath.Join(out, "loss.json")
			}
			if err := train.WriteLossCurve(lossPath, res.Curve); err != nil {
				return err
			}
			if mergedOut != "" {
				if err := train.MergeDir(dir, res.Adapter, mergedOut); err != nil {
					return err
				}
			}
			if !keepCkpt {
				os.RemoveAll(ckptDir)
			}
			last := res.Curve.Steps[len(res.Curve.Steps)-1]
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %d steps, %d tokens, final loss %.4f", out, res.Steps, res.Tokens, last.Loss)
			if res.Resumed > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), ", resumed from step %d", res.Resumed)
			}
			if res.Truncated > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), ", %d examples truncated to --max-length", res.Truncated)
			}
			if res.Skipped > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), ", %d examples skipped (no response token within --max-length)", res.Skipped)
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "model", "", "Hugging Face model directory")
	f.StringArrayVar(&data, "data", nil, "training data JSONL (repeatable)")
	f.StringVarP(&out, "output", "o", "", "adapter output directory")
	f.StringVar(&loraSpec, "lora", "", "LoRA settings: r=8,alpha=16,dropout=0.05,targets=q_proj+v_proj (or targets=all),save=lm_head+embed_tokens (modules_to_save)")
	f.Float64Var(&p.LearningRate, "lr", p.LearningRate, "peak learning rate")
	f.Float64Var(&p.Epochs, "epochs", p.Epochs, "epochs")
	f.IntVar(&p.MaxSteps, "max-steps", 0, "optimiser steps (overrides --epochs)")
	f.IntVar(&p.BatchSize, "batch-size", p.BatchSize, "micro-batch size")
	f.IntVar(&p.GradAccum, "grad-accum", p.GradAccum, "gradient accumulation steps")
	f.IntVar(&p.MaxLength, "max-length", p.MaxLength, "truncate examples to this many tokens")
	f.StringVar(&p.LossReduction, "loss-reduction", train.LossToken, "average the loss over the step's tokens (token) or over its samples, each the mean over its own tokens (sample: the CrossIn reference)")
	f.StringVar(&p.Scheduler, "scheduler", p.Scheduler, "learning-rate schedule: cosine, linear or constant")
	f.Float64Var(&p.WarmupRatio, "warmup-ratio", p.WarmupRatio, "fraction of steps of linear warmup")
	f.Float64Var(&p.WeightDecay, "weight-decay", 0, "AdamW weight decay")
	f.Float64Var(&p.MaxGradNorm, "max-grad-norm", p.MaxGradNorm, "gradient-norm clipping (0 = off)")
	f.IntVar(&p.CheckpointEvery, "checkpoint-every", 0, fmt.Sprintf("checkpoint interval in steps (default: a tenth of the run, at most %d)", train.DefaultCheckpointEvery))
	f.StringVar(&ckptDir, "checkpoints", "", "checkpoint directory")
	f.BoolVar(&keepCkpt, "keep-checkpoints", false, "keep the checkpoints after a successful run")
	f.StringVar(&tmplName, "template", "alpaca", "prompt template for instruction records: alpaca, llama or gemma")
	f.StringVar(&lossPath, "loss", "", "loss curve JSON (default ADAPTER_DIR/loss.json)")
	f.StringVar(&initAdapter, "init-adapter", "", "start from this PEFT adapter instead of a fresh one")
	f.Int64Var(&seed, "seed", 0, "seed of the adapter init, data order and dropout")
	f.IntVar(&threads, "threads", 0, "threads (0 = all); results do not depend on it")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress line")
	f.StringVar(&mergedOut, "merged-output", "", "also write the model with the adapter merged into its weights to this directory")
	return cmd
}
