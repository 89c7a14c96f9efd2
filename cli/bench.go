package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crossin-lab/crossin/bench"
	"github.com/crossin-lab/crossin/hub"
)

// benchCmd is `crossin bench`: build, sample, fetch and show benchmarks.
func benchCmd() *cobra.Command {
	g := &cobra.Command{Use: "bench", Short: "Build, sample, fetch and inspect the cross-lingual benchmarks"}

	var (
		xqDir, xqOut, xqLangs string
		xqSeed                uint64
	)
	build := &cobra.Command{
		Use:   "build-xquad --xquad DIR -o FILE.jsonl",
		Short: "Build Cross-XQuAD (parallel 4-option multiple choice) from the XQuAD files",
		Long: `Build Cross-XQuAD from XQuAD (xquad.<lang>.json in DIR): every XQuAD
question becomes a 4-option item whose distractors are answers to other
questions (same paragraph first, then same article), chosen once by id in
English and taken from the same ids in every language, with the option order
shuffled once, so options are parallel and the gold letter is the same in
every language. Deterministic for a given --seed. The output is in SeaEval's
benchmark format, readable by 'crossin score'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if xqDir == "" || xqOut == "" {
				return Usagef("bench build-xquad: --xquad DIR and -o FILE are required")
			}
			langs := benchSplitList(xqLangs)
			if _, err := bench.LanguageNames(langs); err != nil {
				return Usagef("bench build-xquad: --languages: %v", err)
			}
			b, err := bench.BuildXQuAD(xqDir, bench.XQuADOptions{Languages: langs, Seed: xqSeed})
			if err != nil {
				return err
			}
			if err := b.Save(xqOut); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %d questions in %s\n", xqOut, len(b.Questions), strings.Join(b.Languages, ", "))
			return nil
		},
	}
	build.Flags().StringVar(&xqDir, "xquad", "", "directory with the XQuAD files xquad.<lang>.json")
	build.Flags().StringVarP(&xqOut, "output", "o", "", "output JSONL file")
	build.Flags().StringVar(&xqLangs, "languages", "en,zh,vi,es", "comma-separated languages (ISO codes or SeaEval names)")
	build.Flags().Uint64Var(&xqSeed, "seed", 0, "seed of the distractor choice and option order")
	g.AddCommand(build)

	var (
		smData, smOut, smLangs string
		smN                    int
	)
	sample := &cobra.Command{
		Use:   "sample --data FILE -n N -o FILE",
		Short: "Write N questions spread evenly over a benchmark, in chosen languages",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if smData == "" || smOut == "" {
				return Usagef("bench sample: --data FILE and -o FILE are required")
			}
			if smN < 0 {
				return Usagef("bench sample: -n must be >= 0")
			}
			langs, err := bench.LanguageNames(benchSplitList(smLangs))
			if err != nil {
				return Usagef("bench sample: --languages: %v", err)
			}
			b, err := bench.Load(smData)
			if err != nil {
				return err
			}
			s, err := b.Sample(smN, langs...)
			if err != nil {
				return err
			}
			if err := s.Save(smOut); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %d questions in %s\n", smOut, len(s.Questions), strings.Join(s.Languages, ", "))
			return nil
		},
	}
	sample.Flags().StringVar(&smData, "data", "", "benchmark JSONL file")
	sample.Flags().StringVarP(&smOut, "output", "o", "", "output JSONL file")
	sample.Flags().StringVar(&smLangs, "languages", "", "comma-separated languages to keep (default all)")
	sample.Flags().IntVarP(&smN, "n", "n", 30, "number of questions (0 = all)")
	g.AddCommand(sample)

	var fetchRev, fetchOut string
	fetch := &cobra.Command{
		Use:   "fetch cross_mmlu|cross_logiqa -o FILE",
		Short: "Download a SeaEval benchmark from the Hugging Face hub (SeaEval/SeaEval_datasets)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if fetchOut == "" {
				return Usagef("bench fetch: -o FILE is required")
			}
			b, commit, err := bench.LoadHub(cmd.Context(), hub.NewClient(), args[0], fetchRev)
			if err != nil {
				return err
			}
			if err := b.Save(fetchOut); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %d questions from %s@%s\n", fetchOut, len(b.Questions), bench.SeaEvalRepo, commit)
			return nil
		},
	}
	fetch.Flags().StringVar(&fetchRev, "revision", "", "hub revision (branch, tag or commit; default main)")
	fetch.Flags().StringVarP(&fetchOut, "output", "o", "", "output JSONL file")
	g.AddCommand(fetch)

	var (
		prData, prID, prLang, prFormat, prInstr string
		prTemplate                              int
	)
	prompt := &cobra.Command{
		Use:   "prompt --data FILE --id ID --language L",
		Short: "Print the prompt of one question (SeaEval templates or the CrossIn prompt)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if prData == "" || prID == "" || prLang == "" {
				return Usagef("bench prompt: --data, --id and --language are required")
			}
			lang, err := bench.LanguageName(prLang)
			if err != nil {
				return Usagef("bench prompt: --language: %v", err)
			}
			b, err := bench.Load(prData)
			if err != nil {
				return err
			}
			q, ok := b.Question(prID)
			if !ok {
				return fmt.Errorf("%s has no question %q", prData, prID)
			}
			it := q.Item(lang)
			if it == nil {
				return fmt.Errorf("%s: question %q has no %s", prData, prID, lang)
			}
			s, err := bench.Prompt(b.Name, it, bench.PromptOptions{Format: bench.PromptFormat(prFormat), Template: prTemplate, InstructionLanguage: prInstr})
			if err != nil {
				return err
			}
			_, err = io.WriteString(cmd.OutOrStdout(), s)
			return err
		},
	}
	prompt.Flags().StringVar(&prData, "data", "", "benchmark JSONL file")
	prompt.Flags().StringVar(&prID, "id", "", "question id")
	prompt.Flags().StringVar(&prLang, "language", "", "data language (SeaEval name or ISO code)")
	prompt.Flags().StringVar(&prFormat, "format", "seaeval", "seaeval or crossin")
	prompt.Flags().IntVar(&prTemplate, "template", 1, "SeaEval template number (1-5)")
	prompt.Flags().StringVar(&prInstr, "instruction-language", "", "language of the instructions (default English)")
	g.AddCommand(prompt)
	return g
}

// benchSplitList splits a comma-separated flag value, dropping empty parts.
func benchSplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
