package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/crossin-lab/crossin/bench"
	"github.com/crossin-lab/crossin/hub"
	"github.com/crossin-lab/crossin/metrics"
)

// scoreCmd is `crossin score`.
func scoreCmd() *cobra.Command {
	var (
		name, data, preds, langs, mode, revision string
		asJSON, seaevalOnly, lengthNorm          bool
		seed, bootSeed                           uint64
		bootstrap                                int
	)
	cmd := &cobra.Command{
		Use:   "score --data FILE --predictions FILE",
		Short: "Score predictions on a cross-lingual benchmark with SeaEval's metrics",
		Long: `Score a predictions file against a benchmark with SeaEval's metrics:
accuracy per language and overall, consistency_k and AC3_k for k = 2..|L|,
the consistency of every language subset, and per-language bootstrap 95%
intervals of the accuracy.

The benchmark is a JSONL file in SeaEval's format (--data); for cross_mmlu
and cross_logiqa it may instead come from the Hugging Face hub
(SeaEval/SeaEval_datasets, --benchmark NAME without --data).

The predictions file is JSONL, one question per line:
  {"id": "test_1", "English": "<raw model output>", "Chinese": "...", ...}
with optional "loglik" and "ntokens" for --mode loglik (see package bench).

--languages takes SeaEval names or ISO codes (en,zh,vi,es); the default is
the languages of the first prediction line, in its order, as SeaEval does.
--json prints SeaEval's score keys (overall_acc, language_acc,
consistency_score_k, AC3_k, detailed_consistency_score) plus a "crossin"
object; --seaeval prints exactly SeaEval's score file format.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if preds == "" {
				return Usagef("score: --predictions is required")
			}
			if mode != metrics.ModeGenerate && mode != metrics.ModeLogLik {
				return Usagef("score: --mode must be generate or loglik, not %q", mode)
			}
			var (
				b   *bench.Benchmark
				err error
			)
			switch {
			case data != "":
				b, err = bench.Load(data)
				if err == nil && name != "" {
					b.Name = name
				}
			case name != "":
				b, _, err = bench.LoadHub(cmd.Context(), hub.NewClient(), name, revision)
			default:
				return Usagef("score: give --data FILE (or --benchmark cross_mmlu|cross_logiqa to load it from the hub)")
			}
			if err != nil {
				return err
			}
			p, err := bench.ReadPredictions(preds)
			if err != nil {
				return err
			}
			var languages []string
			if langs != "" {
				if languages, err = bench.LanguageNames(strings.Split(langs, ",")); err != nil {
					return Usagef("score: --languages: %v", err)
				}
			}
			r, err := metrics.Score(b, p, languages,
				metrics.WithMode(mode), metrics.WithLengthNorm(lengthNorm),
				metrics.WithSeed(seed), metrics.WithBootstrap(bootstrap, bootSeed))
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch {
			case seaevalOnly:
				j, err := r.MarshalSeaEval()
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(out, "%s\n", j)
				return err
			case asJSON:
				j, err := r.MarshalJSON()
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(out, "%s\n", j)
				return err
			default:
				return scoreWriteTable(out, r)
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "benchmark", "", "benchmark name (cross_mmlu, cross_logiqa, cross_xquad); default: from the --data file name")
	f.StringVar(&data, "data", "", "benchmark JSONL file in SeaEval's format")
	f.StringVar(&revision, "revision", "", "hub revision of SeaEval/SeaEval_datasets when loading from the hub (default main)")
	f.StringVar(&preds, "predictions", "", "predictions JSONL file")
	f.StringVar(&langs, "languages", "", "comma-separated languages to score (SeaEval names or ISO codes)")
	f.StringVar(&mode, "mode", metrics.ModeGenerate, "generate (map raw outputs to options) or loglik (highest option log-likelihood)")
	f.BoolVar(&lengthNorm, "length-norm", false, "loglik mode: compare per-token log-likelihoods")
	f.Uint64Var(&seed, "seed", 0, "seed of the random draws of answer extraction (blank output, no match, tied vote)")
	f.IntVar(&bootstrap, "bootstrap", 1000, "bootstrap resamples for the accuracy intervals (0 = none)")
	f.Uint64Var(&bootSeed, "bootstrap-seed", 0, "seed of the bootstrap")
	f.BoolVar(&asJSON, "json", false, "print JSON with SeaEval's keys")
	f.BoolVar(&seaevalOnly, "seaeval", false, "print exactly SeaEval's score file format")
	return cmd
}

// scoreWriteTable prints a Result as readable tables.
func scoreWriteTable(w io.Writer, r *metrics.Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "benchmark %s: %d questions, %d languages\n\n", r.Benchmark, r.N, len(r.Languages))
	fmt.Fprintln(tw, "language\taccuracy\t95% CI")
	for _, l := range r.Languages {
		ci := "-"
		if c, ok := r.AccCI[l]; ok {
			ci = fmt.Sprintf("[%.4f, %.4f]", c[0], c[1])
		}
		fmt.Fprintf(tw, "%s\t%.4f\t%s\n", l, r.LanguageAcc[l], ci)
	}
	fmt.Fprintf(tw, "overall\t%.4f\t\n\n", r.OverallAcc)
	fmt.Fprintln(tw, "k\tconsistency\tAC3")
	for k := 2; k <= len(r.Languages); k++ {
		fmt.Fprintf(tw, "%d\t%.4f\t%.4f\n", k, r.Consistency[k], r.AC3[k])
	}
	if len(r.Languages) > 2 {
		fmt.Fprintln(tw, "\npair\tconsistency\t")
		for _, c := range metrics.Combinations(len(r.Languages), 2) {
			n := metrics.SubsetName(r.Languages, c)
			fmt.Fprintf(tw, "%s\t%.4f\t\n", n, r.Detailed[2][n])
		}
	}
	return tw.Flush()
}
