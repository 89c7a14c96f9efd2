package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crossin-lab/crossin/engine/lora"
	"github.com/crossin-lab/crossin/engine/model"
	"github.com/crossin-lab/crossin/engine/tokenizer"
	"github.com/crossin-lab/crossin/engine/train"
)

// modelCmd is `crossin model`: the embedded engine's model tools.
func modelCmd() *cobra.Command {
	g := &cobra.Command{Use: "model", Short: modelGroupShort}
	g.AddCommand(modelInitCmd(), modelNLLCmd(), modelGenerateCmd(), modelTokenizeCmd(), modelTrainCmd())
	return g
}

func modelInitCmd() *cobra.Command {
	var ic model.InitConfig
	var out string
	cmd := &cobra.Command{
		Use:   "init --layers N --hidden N --heads N --intermediate N (--tokenizer FILE | --vocab N) -o DIR",
		Short: "Write a seeded random model in Hugging Face format",
		Long: `Init writes a randomly initialised model (config.json, generation_config.json,
model.safetensors in float32, tokenizer.json and tokenizer_config.json copied from --tokenizer)
that transformers and crossin load. The same flags give byte-identical files.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return Usagef("model init: -o DIR is required")
			}
			if ic.Layers == 0 || ic.Hidden == 0 || ic.Heads == 0 || ic.Intermediate == 0 {
				return Usagef("model init: --layers, --hidden, --heads and --intermediate are required")
			}
			if ic.Tokenizer == "" && ic.Vocab == 0 {
				return Usagef("model init: give --tokenizer FILE or --vocab N")
			}
			if err := model.Init(out, ic); err != nil {
				return err
			}
			cfg, err := model.LoadConfig(filepath.Join(out, "config.json"))
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %s, %d layers, hidden %d, vocab %d, %d parameters\n",
				out, cfg.Arch, cfg.NumLayers, cfg.HiddenSize, cfg.VocabSize, cfg.NumParams())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&ic.Arch, "arch", "llama", "architecture: llama, mistral, qwen2 or gemma")
	f.IntVar(&ic.Layers, "layers", 0, "number of decoder layers")
	f.IntVar(&ic.Hidden, "hidden", 0, "hidden size")
	f.IntVar(&ic.Heads, "heads", 0, "attention heads")
	f.IntVar(&ic.KVHeads, "kv-heads", 0, "key/value heads (default: --heads)")
	f.IntVar(&ic.Intermediate, "intermediate", 0, "MLP intermediate size")
	f.IntVar(&ic.Vocab, "vocab", 0, "vocabulary size (default: the tokenizer's)")
	f.StringVar(&ic.Tokenizer, "tokenizer", "", "tokenizer.json to copy into the model")
	f.Uint64Var(&ic.Seed, "seed", 0, "random seed")
	f.IntVar(&ic.MaxPositions, "max-positions", 2048, "max_position_embeddings")
	f.Float64Var(&ic.RopeTheta, "rope-theta", 10000, "rotary embedding base")
	f.BoolVar(&ic.Tie, "tie", false, "tie the LM head to the embeddings")
	f.IntVar(&ic.HeadDim, "head-dim", 0, "attention head size (default: hidden/heads)")
	f.IntVar(&ic.SlidingWindow, "sliding-window", 0, "Mistral's sliding attention window (default: none)")
	f.StringVarP(&out, "output", "o", "", "output directory")
	return cmd
}

// readJSONLines calls fn for every non-blank line of r, numbering lines
// from 1 so errors can name stdin:LINE.
func readJSONLines(r io.Reader, fn func(line int, text []byte) error) error {
	br := bufio.NewReader(r)
	for line := 1; ; line++ {
		s, err := br.ReadBytes('\n')
		if t := strings.TrimSpace(string(s)); t != "" {
			if ferr := fn(line, []byte(t)); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading stdin: %w", err)
		}
	}
}

func parseIDLine(line int, text []byte) ([]int, error) {
	var ids []int
	if err := json.Unmarshal(text, &ids); err != nil {
		return nil, fmt.Errorf("stdin:%d: expected a JSON array of token ids, e.g. [1, 415, 2936]: %v", line, err)
	}
	return ids, nil
}

func writeJSONLine(w *bufio.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Write(b)
	return w.WriteByte('\n')
}

func modelNLLCmd() *cobra.Command {
	var dir string
	var batch int
	cmd := &cobra.Command{
		Use:   "nll --model DIR",
		Short: "Print per-token next-token NLLs of token-id sequences read from stdin (debug tool)",
		Long: `NLL reads one JSON array of token ids per line from stdin and prints, per line, a JSON
array of the natural-log negative log-likelihood of each next token (len(ids)-1 values),
computed in float32 like transformers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return Usagef("model nll: --model DIR is required")
			}
			if batch < 1 {
				return Usagef("model nll: --batch must be at least 1")
			}
			m, err := model.Load(dir)
			if err != nil {
				return err
			}
			defer m.Close()
			out := bufio.NewWriter(cmd.OutOrStdout())
			defer out.Flush()
			var pending [][]int
			var lines []int
			flush := func() error {
				if len(pending) == 0 {
					return nil
				}
				res, err := m.NLLBatch(pending)
				if err != nil {
					return fmt.Errorf("stdin:%d: %w", lines[0], err)
				}
				for _, r := range res {
					if err := writeJSONLine(out, r); err != nil {
						return err
					}
				}
				pending, lines = pending[:0], lines[:0]
				return out.Flush()
			}
			err = readJSONLines(cmd.InOrStdin(), func(line int, text []byte) error {
				ids, err := parseIDLine(line, text)
				if err != nil {
					return err
				}
				if err := checkIDs(ids, m.Config.VocabSize); err != nil {
					return fmt.Errorf("stdin:%d: %w", line, err)
				}
				pending = append(pending, ids)
				lines = append(lines, line)
				if len(pending) >= batch {
					return flush()
				}
				return nil
			})
			if err != nil {
				return err
			}
			return flush()
		},
	}
	cmd.Flags().StringVar(&dir, "model", "", "Hugging Face model directory")
	cmd.Flags().IntVar(&batch, "batch", 8, "sequences scored together")
	return cmd
}

func checkIDs(ids []int, vocab int) error {
	for i, id := range ids {
		if id < 0 || id >= vocab {
			return fmt.Errorf("token %d: id %d outside the model's vocabulary [0, %d)", i, id, vocab)
		}
	}
	return nil
}

func modelGenerateCmd() *cobra.Command {
	var dir, adapterDir string
	var o model.GenerateOptions
	var text bool
	var batch int
	cmd := &cobra.Command{
		Use:   "generate --model DIR [--adapter DIR] --max-new-tokens N [--text]",
		Short: "Greedy-decode from prompts read from stdin (debug tool)",
		Long: `Generate reads one prompt per line from stdin and prints what greedy decoding adds to it,
one line per prompt. Prompts are JSON arrays of token ids and outputs JSON arrays of the new ids;
with --text, prompts are JSON strings, tokenized with the model's tokenizer.json (BOS added),
and outputs are JSON strings (special tokens skipped). --adapter applies a PEFT LoRA adapter.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return Usagef("model generate: --model DIR is required")
			}
			if o.MaxNewTokens < 1 {
				return Usagef("model generate: --max-new-tokens must be at least 1")
			}
			if batch < 1 {
				return Usagef("model generate: --batch must be at least 1")
			}
			m, err := model.Load(dir)
			if err != nil {
				return err
			}
			defer m.Close()
			if adapterDir != "" {
				a, err := lora.Load(adapterDir)
				if err != nil {
					return err
				}
				// train.Apply also swaps in modules_to_save (a trained
				// LM head or embedding), not only the LoRA pairs.
				undo, err := train.Apply(m, a)
				if err != nil {
					return fmt.Errorf("%s: %w", adapterDir, err)
				}
				defer undo()
			}
			var tk *tokenizer.Tokenizer
			if text {
				if tk, err = tokenizer.LoadDir(dir); err != nil {
					return err
				}
			}
			out := bufio.NewWriter(cmd.OutOrStdout())
			defer out.Flush()
			var prompts [][]int
			var lines []int
			flush := func() error {
				if len(prompts) == 0 {
					return nil
				}
				// The root holds this run's context; a subcommand keeps the one of
				// its first execution when the tree is reused (cobra quirk).
				gen, err := m.Generate(cmd.Root().Context(), prompts, o)
				if err != nil {
					return fmt.Errorf("stdin:%d: %w", lines[0], err)
				}
				for _, g := range gen {
					var v any = g
					if text {
						v = tk.Decode(g, true)
					}
					if err := writeJSONLine(out, v); err != nil {
						return err
					}
				}
				prompts, lines = prompts[:0], lines[:0]
				return out.Flush()
			}
			err = readJSONLines(cmd.InOrStdin(), func(line int, b []byte) error {
				var ids []int
				if text {
					var s string
					if err := json.Unmarshal(b, &s); err != nil {
						return fmt.Errorf("stdin:%d: expected a JSON string prompt: %v", line, err)
					}
					ids = tk.Encode(s, true)
				} else {
					var err error
					if ids, err = parseIDLine(line, b); err != nil {
						return err
					}
				}
				if len(ids) == 0 {
					return fmt.Errorf("stdin:%d: empty prompt", line)
				}
				if err := checkIDs(ids, m.Config.VocabSize); err != nil {
					return fmt.Errorf("stdin:%d: %w", line, err)
				}
				prompts = append(prompts, ids)
				lines = append(lines, line)
				if len(prompts) >= batch {
					return flush()
				}
				return nil
			})
			if err != nil {
				return err
			}
			return flush()
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "model", "", "Hugging Face model directory")
	f.StringVar(&adapterDir, "adapter", "", "PEFT LoRA adapter directory")
	f.IntVar(&o.MaxNewTokens, "max-new-tokens", 32, "tokens to generate at most per prompt")
	f.BoolVar(&o.IgnoreEOS, "ignore-eos", false, "do not stop at the end-of-sequence token")
	f.BoolVar(&text, "text", false, "prompts and outputs are JSON strings")
	f.IntVar(&batch, "batch", 8, "prompts decoded together")
	return cmd
}
