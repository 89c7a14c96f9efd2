package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/crossin-lab/crossin/dataset"
	"github.com/crossin-lab/crossin/hub"
	"github.com/crossin-lab/crossin/mixture"
	"github.com/crossin-lab/crossin/schema"
)

// dataCmd is `crossin data`: build, inspect and fetch training mixtures.
func dataCmd() *cobra.Command {
	g := &cobra.Command{Use: "data", Short: "Build and inspect CrossIn training mixtures"}
	g.AddCommand(dataBuildCmd(), dataStatsCmd(), dataFetchCmd())
	return g
}

type dataBuildFlags struct {
	mixture     string
	out         string
	english     string
	parallel    []string
	translation string
	variants    []string
	seed        uint64
	languages   []string
	minScore    float64
	marker      string
	direction   string
	allowSame   bool
	noReplace   bool
	numpy       bool
	json        bool
}

func dataBuildCmd() *cobra.Command {
	var f dataBuildFlags
	c := &cobra.Command{
		Use:   "build [SPEC...] (--mixture NAME | --english FILE --parallel LANG=FILE ... --variant MODE=COUNT ...) -o FILE",
		Short: "Build a CrossIn mixture (base, en2x, x2en, x2x, trans) as JSONL",
		Long: `Build a training mixture and write it atomically as JSONL records
{id, mode, src_lang, tgt_lang, instruction, input, output, source_ids}.

From a spec: crossin data build experiments/quickstart.cue --mixture x2x-200 -o x2x.jsonl

From flags:
  crossin data build --english alpaca_data.json \
    --parallel zh=alpaca_zh.jsonl --parallel vi=alpaca_vi.jsonl --min-score 0.55 \
    --translation flores.jsonl \
    --variant x2x=3000 --variant en2x=3000 --variant trans=1000 --seed 42 -o mix.jsonl

Files: .json (an Alpaca array, aligned by position unless records have an
"id"), .jsonl (with an "id" field), .parquet, a folder of Parquet shards, or
hf://datasets/OWNER/NAME@REV/PATH. Without --translation, trans pairs the
parallel instructions (X instruction in, English instruction out), as the
reference builder does. Counts are numbers or "all" (as many draws as the set
has, with replacement). The same inputs and seed give the same bytes;
--numpy gives the reference builder's own items in its order.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDataBuild(cmd, args, &f)
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.mixture, "mixture", "", "name of the mixture to build from the spec files")
	fl.StringVarP(&f.out, "output", "o", "", "output JSONL file (written atomically)")
	fl.StringVar(&f.english, "english", "", "English instruction file (Base, and the English side of parallel data)")
	fl.StringArrayVar(&f.parallel, "parallel", nil, "LANG=FILE parallel instruction file (repeatable)")
	fl.StringVar(&f.translation, "translation", "", "multi-way parallel sentence file (JSONL with a key per language) for trans (default: trans pairs the --parallel instructions, as the reference builder does)")
	fl.StringArrayVar(&f.variants, "variant", nil, "MODE=COUNT with MODE base, en2x, x2en, x2x or trans and COUNT a number or all (repeatable)")
	fl.Uint64Var(&f.seed, "seed", 42, "sampling and shuffle seed")
	fl.StringSliceVar(&f.languages, "languages", nil, "languages of the parallel data (default: en plus the --parallel languages)")
	fl.Float64Var(&f.minScore, "min-score", 0, "drop parallel records whose score field is below this")
	fl.StringVar(&f.marker, "marker", "", "target-language marker for en2x/x2en/x2x: code (\\n[zh] after the input, the default), instruction (\"Answer in Chinese.\") or none")
	fl.StringVar(&f.direction, "trans-direction", "", "trans direction: x2en (default), en2x, both or any")
	fl.BoolVar(&f.allowSame, "allow-same", false, "x2x: let instruction and response languages be equal")
	fl.BoolVar(&f.noReplace, "without-replacement", false, "use each source item at most once per variant")
	fl.BoolVar(&f.numpy, "numpy", false, "replay the reference builder's numpy draws and order (np.random.seed(SEED), SEED < 2^32; files aligned by position)")
	fl.BoolVar(&f.json, "json", false, "print the summary as JSON")
	return c
}

func runDataBuild(cmd *cobra.Command, args []string, f *dataBuildFlags) error {
	if f.out == "" {
		return Usagef("data build: -o FILE is required")
	}
	if f.numpy && f.noReplace {
		return Usagef("data build: --numpy replays the reference builder, which samples with replacement; drop --without-replacement")
	}
	flagMode := f.english != "" || len(f.parallel) > 0 || f.translation != "" || len(f.variants) > 0
	var spec mixture.Spec
	switch {
	case f.mixture != "" && flagMode:
		return Usagef("data build: give either --mixture NAME with spec files, or --english/--parallel/--variant, not both")
	case f.mixture != "":
		s, err := schema.Load(specPaths(args)...)
		if err != nil {
			return err
		}
		if spec, err = mixture.FromSchema(s, f.mixture); err != nil {
			return err
		}
		if cmd.Flags().Changed("seed") {
			spec.Seed = f.seed
		}
		if err := applyTweaks(&spec, f); err != nil {
			return err
		}
	case flagMode:
		if len(args) > 0 {
			return Usagef("data build: spec files %v given without --mixture", args)
		}
		var err error
		if spec, err = specFromFlags(f); err != nil {
			return err
		}
	default:
		return Usagef("data build: give --mixture NAME (with spec files) or --english/--parallel and --variant MODE=COUNT")
	}
	res, err := mixture.Build(cmd.Context(), spec)
	if err != nil {
		return err
	}
	if err := res.WriteFile(f.out); err != nil {
		return fmt.Errorf("data build: write %s: %w", f.out, err)
	}
	w := cmd.OutOrStdout()
	if f.json {
		return writeJSON(w, map[string]any{
			"output": f.out, "mixture": res.Name, "records": len(res.Records), "hash": res.Hash,
			"stats": res.Stats, "coverage": res.Coverage, "skipped": res.Skipped,
		})
	}
	fmt.Fprintf(w, "wrote %s: %d records\n", f.out, len(res.Records))
	if len(res.Coverage) > 0 {
		writeCoverage(w, res.Coverage)
	}
	for _, v := range spec.Variants {
		if n := res.Skipped[v.Name]; n > 0 {
			fmt.Fprintf(w, "%s: %d source items skipped (no usable language pair)\n", v.Name, n)
		}
	}
	fmt.Fprintln(w)
	return res.Stats.WriteTable(w)
}

// applyTweaks applies the flags that refine a spec-built mixture (the schema
// does not spell them).
func applyTweaks(spec *mixture.Spec, f *dataBuildFlags) error {
	for i := range spec.Variants {
		v := &spec.Variants[i]
		if f.marker != "" && v.Mode != mixture.Base && v.Mode != mixture.Trans {
			v.Marker = mixture.Marker(f.marker)
		}
		if f.direction != "" && v.Mode == mixture.Trans {
			v.Direction = f.direction
		}
		if f.allowSame && v.Mode == mixture.X2X {
			v.AllowSame = true
		}
		if f.minScore > 0 && v.Sources != nil {
			src := *v.Sources
			src.MinScore = f.minScore
			v.Sources = &src
		}
	}
	if s := flagSampling(f); s != "" {
		spec.Sampling = s
		for i := range spec.Variants {
			spec.Variants[i].Sampling = s
		}
	}
	return nil
}

// flagSampling is the sampling the flags ask for ("" for the spec's).
func flagSampling(f *dataBuildFlags) mixture.Sampling {
	switch {
	case f.numpy:
		return mixture.Numpy
	case f.noReplace:
		return mixture.WithoutReplacement
	}
	return ""
}

func specFromFlags(f *dataBuildFlags) (mixture.Spec, error) {
	spec := mixture.Spec{
		Name:      "flags",
		Seed:      f.seed,
		Languages: f.languages,
		Sources: mixture.Sources{
			English:     f.english,
			Translation: f.translation,
			MinScore:    f.minScore,
			Parallel:    map[string]string{},
		},
	}
	for _, p := range f.parallel {
		lang, file, ok := strings.Cut(p, "=")
		if !ok || file == "" {
			return spec, Usagef("data build: --parallel %q: want LANG=FILE, e.g. zh=alpaca_zh.jsonl", p)
		}
		if err := dataset.CheckLang(lang); err != nil {
			return spec, Usagef("data build: --parallel %s: %v", p, err)
		}
		if _, dup := spec.Sources.Parallel[lang]; dup {
			return spec, Usagef("data build: --parallel %s given twice", lang)
		}
		spec.Sources.Parallel[lang] = file
	}
	if len(f.variants) == 0 {
		return spec, Usagef("data build: no --variant MODE=COUNT given (modes: base, en2x, x2en, x2x, trans)")
	}
	spec.Sampling = flagSampling(f)
	for _, vs := range f.variants {
		mode, count, ok := strings.Cut(vs, "=")
		if !ok {
			return spec, Usagef("data build: --variant %q: want MODE=COUNT, e.g. x2x=3000 or base=all", vs)
		}
		n := mixture.All
		if count != "all" {
			var err error
			if n, err = strconv.Atoi(count); err != nil || n <= 0 {
				return spec, Usagef("data build: --variant %s: count %q is not a positive number or all", vs, count)
			}
		}
		v := mixture.Variant{Mode: mixture.Mode(mode), Count: n, AllowSame: f.allowSame && mode == string(mixture.X2X)}
		if mode != string(mixture.Base) && mode != string(mixture.Trans) {
			v.Marker = mixture.Marker(f.marker)
		}
		if mode == string(mixture.Trans) {
			v.Direction = f.direction
		}
		spec.Variants = append(spec.Variants, v)
	}
	return spec, nil
}

func writeCoverage(w io.Writer, cov []dataset.Coverage) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "lang\taligned\tof items\tsource records\tskipped\tsource")
	for _, c := range cov {
		skipped := "0"
		if k := c.Skipped; k.Total() > 0 {
			skipped = fmt.Sprintf("%d (%d unaligned, %d low score, %d empty)", k.Total(), k.NoID, k.LowScore, k.Empty)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\n", c.Lang, c.Present, c.Items, c.Total, skipped, c.Source)
	}
	tw.Flush()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func dataStatsCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "stats FILE",
		Short: "Summarise a mixture file: counts per mode and language pair, length quantiles, content hash",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			recs, err := mixture.ReadJSONL(args[0])
			if err != nil {
				return err
			}
			st := mixture.ComputeStats(recs)
			st.Hash = mixture.HashRecords(recs)
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), st)
			}
			return st.WriteTable(cmd.OutOrStdout())
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the stats as JSON")
	return c
}

func dataFetchCmd() *cobra.Command {
	var offline bool
	c := &cobra.Command{
		Use:   "fetch hf://datasets/OWNER/NAME[@REV]/PATH ...",
		Short: "Download hub files into the content-addressed cache (then usable offline) and print their commit",
		Long: `Resolve each reference's revision to a commit, download the file once into
the hub cache ($CROSSIN_CACHE/hub), and print the pinned reference and the
local path. Later builds read the cached bytes, offline too (HF_HUB_OFFLINE=1
or --offline). HF_TOKEN and HF_ENDPOINT are honoured; the token is never printed.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var opts []hub.Option
			if cmd.Flags().Changed("offline") {
				opts = append(opts, hub.WithOffline(offline))
			}
			hc := hub.NewClient(opts...)
			for _, a := range args {
				if !dataset.IsHubRef(a) {
					return Usagef("data fetch: %q is not an hf:// reference (want hf://datasets/OWNER/NAME@REV/PATH)", a)
				}
				r, err := dataset.ParseHubRef(a)
				if err != nil {
					return Usagef("data fetch: %v", err)
				}
				commit, err := hc.Resolve(cmd.Context(), r.Type, r.Repo, r.Revision)
				if err != nil {
					return err
				}
				local, err := hc.Download(cmd.Context(), r.Type, r.Repo, commit, r.Path)
				if err != nil {
					return err
				}
				pinned := dataset.HubRef{Type: r.Type, Repo: r.Repo, Revision: commit, Path: r.Path}
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\n", pinned, local)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&offline, "offline", false, "use only the local cache (default $HF_HUB_OFFLINE)")
	return c
}
