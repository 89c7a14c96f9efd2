package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crossin-lab/crossin/engine/tokenizer"
)

// modelGroupShort describes the "model" group; every model command file
// passes the same text to Group.
const modelGroupShort = "Work with models of the embedded engine (tokenize, init, nll, generate)"

// modelTokenizeCmd is `crossin model tokenize`.
func modelTokenizeCmd() *cobra.Command {
	var tokPath string
	var noSpecial, jsonl bool
	cmd := &cobra.Command{
		Use:   "tokenize --tokenizer FILE [--no-special] [--jsonl]",
		Short: "Print the token ids of text read from stdin (debug tool)",
		Long: `Tokenize reads text from stdin and prints its token ids as a JSON array, exactly as
Hugging Face tokenizers would (special tokens such as BOS are added unless --no-special).
All of stdin is one text, trailing newline included. With --jsonl, every non-empty input
line is a JSON string and every output line the JSON array of ids of that string.

--tokenizer takes a tokenizer.json or a model directory holding one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if tokPath == "" {
				return Usagef("model tokenize: --tokenizer FILE is required")
			}
			tk, err := loadTokenizer(tokPath)
			if err != nil {
				return err
			}
			out := bufio.NewWriter(cmd.OutOrStdout())
			defer out.Flush()
			if !jsonl {
				text, err := io.ReadAll(cmd.InOrStdin())
				if err != nil {
					return fmt.Errorf("reading stdin: %w", err)
				}
				if err := writeIDs(out, tk.Encode(string(text), !noSpecial)); err != nil {
					return err
				}
				return out.Flush()
			}
			return tokenizeLines(cmd.InOrStdin(), out, tk, !noSpecial)
		},
	}
	cmd.Flags().StringVar(&tokPath, "tokenizer", "", "tokenizer.json file or model directory")
	cmd.Flags().BoolVar(&noSpecial, "no-special", false, "do not add the post-processor's special tokens (BOS)")
	cmd.Flags().BoolVar(&jsonl, "jsonl", false, "one JSON string per input line, one JSON array per output line")
	return cmd
}

// loadTokenizer accepts a tokenizer.json or a directory containing one.
func loadTokenizer(path string) (*tokenizer.Tokenizer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("--tokenizer: %w", err)
	}
	if st.IsDir() {
		return tokenizer.LoadDir(path)
	}
	return tokenizer.Load(path)
}

func writeIDs(w *bufio.Writer, ids []int) error {
	b, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	w.Write(b)
	return w.WriteByte('\n')
}

// tokenizeLines handles --jsonl: lines of any length, blank lines skipped,
// a bad line reported as stdin:LINE.
func tokenizeLines(in io.Reader, out *bufio.Writer, tk *tokenizer.Tokenizer, addSpecial bool) error {
	r := bufio.NewReader(in)
	for line := 1; ; line++ {
		s, err := r.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading stdin: %w", err)
		}
		if t := strings.TrimSpace(s); t != "" {
			var text string
			if jerr := json.Unmarshal([]byte(t), &text); jerr != nil {
				return fmt.Errorf("stdin:%d: want a JSON string per line (--jsonl), e.g. \"Hello\\n\": %v", line, jerr)
			}
			if werr := writeIDs(out, tk.Encode(text, addSpecial)); werr != nil {
				return werr
			}
		}
		if err != nil {
			return out.Flush()
		}
	}
}
