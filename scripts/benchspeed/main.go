// Command benchspeed is `make bench-speed`: this build of crossin against
// a baseline build, in one run (not part of CI: it takes minutes and its
// figures depend on the machine's load, printed with each figure; only
// ratios from the same run mean anything).
//
// For this build (BIN, default bin/crossin) and for the baseline commit
// (BASELINE, default dca91cd; built once from `git archive` into
// $XDG_CACHE_HOME/crossin-bench/COMMIT and reused), alternating baseline,
// current, baseline, current ... for ROUNDS rounds (default 1):
//
//  1. the quickstart from a fresh empty cache ($CROSSIN_CACHE) and results
//     directory (-o): CPU time (user+sys), wall time and peak RSS of the
//     `crossin run` process (wait4's rusage);
//  2. a one-cell edit in watch mode on that warm cache: `crossin watch
//     --json` on the same copy of the spec; once its first table is shown,
//     one cell (tiny/x2x-200/s42) gets its own learning rate, so only that
//     cell's train, evals and scores are stale; the time from the save to
//     the watcher's next "result" event (a fresh table), and the CPU time
//     the watcher spent on it.
//
// Both builds run the same spec: the current tree's
// experiments/quickstart.cue when the baseline accepts it (said so when the
// baseline's own spec differs), else each tree's own. The tables of the two
// builds are compared and any difference is shown.
//
// Then scripts/bench_torch/bench.py (engine vs PyTorch, both shapes; it
// stays Python because it runs PyTorch) unless torch is missing or
// SKIP_TORCH=1.
//
// Options (environment): ROUNDS=N, SKIP_TORCH=1, SKIP_BASELINE=1,
// BASELINE=COMMIT, BIN=path, BENCH_JSON=file (or -json FILE): the figures
// as JSON too, TORCH_SHAPES (default 19M,smol). It runs from anywhere in
// the repository.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

const (
	specPath = "experiments/quickstart.cue"
	editCell = "tiny/x2x-200/s42"
	editLR   = "2e-3"
	torchPy  = "/usr/bin/python3"
	torchLib = "/usr/lib/x86_64-linux-gnu/openblas-pthread"
)

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}

// Cold is the quickstart from an empty cache.
type Cold struct {
	CPUS   float64 `json:"cpu_s"`
	WallS  float64 `json:"wall_s"`
	RSSMiB int     `json:"rss_mib"`
	Load   float64 `json:"load"`
}

// Round is one build's figures in one round.
type Round struct {
	Build     string  `json:"build"`
	Cold      Cold    `json:"cold"`
	Table     string  `json:"table"`
	Stages    Profile `json:"stages"`
	Edit      Edit    `json:"edit"`
	EditTable string  `json:"edit_table,omitempty"`
}

// Figure is one row of the summary: medians over the rounds.
type Figure struct {
	Baseline *float64 `json:"baseline"`
	Current  *float64 `json:"current"`
	Ratio    *float64 `json:"ratio"`
}

// Output is what -json writes.
type Output struct {
	Baseline            *string           `json:"baseline"`
	Rounds              int               `json:"rounds"`
	Head                string            `json:"head"`
	NProc               int               `json:"nproc"`
	Summary             ordered[Figure]   `json:"summary"`
	TableDiff           *string           `json:"table_diff,omitempty"`
	TablesIdentical     *bool             `json:"tables_identical,omitempty"`
	EditTablesIdentical *bool             `json:"edit_tables_identical,omitempty"`
	Table               string            `json:"table"`
	Runs                ordered[[]*Round] `json:"runs"`
	Torch               string            `json:"torch"`
}

// ordered is a JSON object whose keys keep their order.
type ordered[V any] struct {
	keys []string
	vals map[string]V
}

func (o *ordered[V]) set(k string, v V) {
	if o.vals == nil {
		o.vals = map[string]V{}
	}
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

// MarshalJSON writes the object, keys in order.
func (o ordered[V]) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, k := range o.keys {
		if i > 0 {
			b = append(b, ',')
		}
		key, _ := json.Marshal(k)
		val, err := json.Marshal(o.vals[k])
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, key...), ':'), val...)
	}
	return append(b, '}'), nil
}

// build is one binary and the tree whose spec it runs.
type build struct{ label, binary, tree string }

func main() { os.Exit(Main()) }

// Main runs the benchmark and returns the exit code.
func Main() int {
	if err := run(); err != nil {
		logf("bench-speed: %v", err)
		return 1
	}
	return 0
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func run() error {
	jsonOut := flag.String("json", os.Getenv("BENCH_JSON"), "also write the figures here as JSON")
	rounds := flag.Int("rounds", envInt("ROUNDS", 1), "rounds")
	baseline := flag.String("baseline", envOr("BASELINE", "dca91cd"), "the baseline commit")
	bin := flag.String("bin", envOr("BIN", "bin/crossin"), "this build's binary")
	timeoutS := flag.Int("timeout", 1800, "seconds to wait for one watch table")
	flag.Parse()
	timeout := time.Duration(*timeoutS) * time.Second
	if *rounds < 1 {
		return fmt.Errorf("ROUNDS=%d: want at least 1", *rounds)
	}

	top, err := git(".", "rev-parse", "--show-toplevel")
	if err != nil {
		return err
	}
	repo := strings.TrimSpace(top)
	current := *bin
	if !filepath.IsAbs(current) {
		current = filepath.Join(repo, current)
	}
	if _, err := os.Stat(current); err != nil {
		return fmt.Errorf("%s is missing (make build)", current)
	}
	head, err := git(repo, "rev-parse", "HEAD")
	if err != nil {
		return err
	}
	out := Output{Rounds: *rounds, Head: strings.TrimSpace(head), NProc: runtime.NumCPU()}
	var notes []string
	builds := []build{{"current", current, repo}}
	if os.Getenv("SKIP_BASELINE") != "1" {
		baseBin, baseSrc, full, err := baselineBuild(repo, *baseline)
		if err != nil {
			return err
		}
		out.Baseline = &full
		baseTree := baseSrc
		note, useCurrent, err := compareSpecs(repo, baseSrc, baseBin)
		if err != nil {
			return err
		}
		if useCurrent {
			baseTree = repo
		}
		notes = append(notes, note)
		builds = append([]build{{"baseline", baseBin, baseTree}}, builds...)
	}

	work, err := os.MkdirTemp("", "crossin-bench-speed-")
	if err != nil {
		return err
	}
	// Ctrl-C reaches the crossin children too; clean up as they stop.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	go func() {
		<-sig
		os.RemoveAll(work)
		os.Exit(130)
	}()
	for _, b := range builds {
		out.Runs.set(b.label, nil)
	}
	for i := range *rounds {
		for _, b := range builds {
			logf("bench-speed: round %d/%d, %s", i+1, *rounds, b.label)
			r, err := oneRound(b, work, timeout)
			if err != nil {
				os.RemoveAll(work)
				return err
			}
			out.Runs.set(b.label, append(out.Runs.vals[b.label], r))
		}
	}
	os.RemoveAll(work)
	signal.Stop(sig)

	text := report(&out, current, notes)
	fmt.Println(text)

	shapes := envOr("TORCH_SHAPES", "19M,smol")
	fmt.Printf("\nengine vs PyTorch (scripts/bench_torch/bench.py --shapes %s):\n", shapes)
	out.Torch = torchTable(repo, shapes)
	fmt.Println(strings.TrimRight(out.Torch, "\n"))
	if *jsonOut != "" {
		b, err := json.MarshalIndent(out, "", " ")
		if err != nil {
			return err
		}
		return os.WriteFile(*jsonOut, append(b, '\n'), 0o666)
	}
	return nil
}

// compareSpecs says whether both builds can run the current tree's spec:
// yes when it is the same in both trees or the baseline validates it.
func compareSpecs(repo, baseSrc, baseBin string) (note string, useCurrent bool, err error) {
	cur, err := os.ReadFile(filepath.Join(repo, specPath))
	if err != nil {
		return "", false, err
	}
	base, err := os.ReadFile(filepath.Join(baseSrc, specPath))
	if err != nil {
		return "", false, err
	}
	if string(cur) == string(base) {
		return fmt.Sprintf("spec: %s is the same in both trees", specPath), false, nil
	}
	t, err := os.MkdirTemp("", "crossin-bench-spec-")
	if err != nil {
		return "", false, err
	}
	defer os.RemoveAll(t)
	d, err := specDir(repo, t)
	if err != nil {
		return "", false, err
	}
	if exec.Command(baseBin, "validate", d).Run() == nil {
		return fmt.Sprintf("spec: %s differs between the trees; both builds run the current one (the baseline accepts it)", specPath), true, nil
	}
	return fmt.Sprintf("spec: %s differs and the baseline rejects the current one: each build runs its own tree's spec", specPath), false, nil
}

// oneRound runs the quickstart cold and then the watch edit for one build.
func oneRound(b build, work string, timeout time.Duration) (*Round, error) {
	d, err := os.MkdirTemp(work, b.label+"-")
	if err != nil {
		return nil, err
	}
	sd, err := specDir(b.tree, d)
	if err != nil {
		return nil, err
	}
	spec := filepath.Join(sd, "quickstart.cue")
	env := append(os.Environ(), "CROSSIN_CACHE="+filepath.Join(d, "cache"))
	results := filepath.Join(d, "results")
	eventsPath := filepath.Join(d, "events.jsonl")
	logPath := filepath.Join(d, "run.log")
	load := loadavg()
	events, err := os.Create(eventsPath)
	if err != nil {
		return nil, err
	}
	errout, err := os.Create(logPath)
	if err != nil {
		events.Close()
		return nil, err
	}
	t, err := timed([]string{b.binary, "run", "--json", "-o", results, sd}, env, events, errout)
	events.Close()
	errout.Close()
	if err != nil {
		return nil, err
	}
	if t.rc != 0 {
		return nil, fmt.Errorf("%s quickstart failed (rc %d), log: %s", b.label, t.rc, logPath)
	}
	table, err := os.ReadFile(filepath.Join(results, "quickstart", "results.txt"))
	if err != nil {
		return nil, err
	}
	f, err := os.Open(eventsPath)
	if err != nil {
		return nil, err
	}
	stages, err := stageProfile(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %v", eventsPath, err)
	}
	r := &Round{Build: b.label, Table: string(table), Stages: stages,
		Cold: Cold{CPUS: round(t.cpu, 1), WallS: round(t.wall.Seconds(), 1), RSSMiB: int(round(t.rssMiB, 0)), Load: round(load, 1)}}
	logf("bench-speed: %-8s quickstart cold: %.1f CPU-s, %.1f s wall, %d MiB peak RSS", b.label, t.cpu, t.wall.Seconds(), int(t.rssMiB))
	r.Edit, err = watchEdit(b.binary, env, spec, results, timeout)
	if err == nil {
		var et []byte
		if et, err = os.ReadFile(filepath.Join(results, "quickstart", "results.txt")); err == nil {
			r.EditTable = string(et)
		}
	}
	if err != nil {
		r.Edit = Edit{Error: err.Error()}
		logf("bench-speed: %s one-cell edit failed: %v", b.label, err)
	} else {
		logf("bench-speed: %-8s one-cell edit: %.1f s wall, %.1f CPU-s, %d stages re-run", b.label, r.Edit.WallS, r.Edit.CPUS, r.Edit.Reruns)
	}
	os.RemoveAll(filepath.Join(d, "cache"))
	return r, nil
}

// summaryRows are the figures of the report's table: name, unit, and the
// Round field they take the median of.
var summaryRows = []struct {
	name, unit, key string
	get             func(*Round) (float64, bool)
}{
	{"quickstart cold CPU (user+sys)", "s", "cold_cpu_s", func(r *Round) (float64, bool) { return r.Cold.CPUS, true }},
	{"quickstart cold wall", "s", "cold_wall_s", func(r *Round) (float64, bool) { return r.Cold.WallS, true }},
	{"quickstart cold peak RSS", "MiB", "cold_rss_mib", func(r *Round) (float64, bool) { return float64(r.Cold.RSSMiB), true }},
	{"one-cell edit, save -> table", "s", "edit_wall_s", func(r *Round) (float64, bool) { return r.Edit.WallS, r.Edit.Error == "" }},
	{"one-cell edit CPU (watch process)", "s", "edit_cpu_s", func(r *Round) (float64, bool) { return r.Edit.CPUS, r.Edit.Error == "" }},
}

// report fills out's summary and table comparisons and returns the text
// report (without the PyTorch part).
func report(out *Output, current string, notes []string) string {
	baseName := "skipped"
	if out.Baseline != nil {
		baseName = *out.Baseline
	}
	lines := []string{fmt.Sprintf("crossin bench-speed: %s (HEAD %s) vs baseline %s, %d round(s), %d CPUs, load %.1f",
		current, prefix(out.Head, 12), prefix(baseName, 12), out.Rounds, out.NProc, loadavg())}
	lines = append(lines, notes...)
	lines = append(lines, fmt.Sprintf("%-36s %12s %12s %9s", "median over rounds", "baseline", "current", "cur/base"))
	fig := func(label string, get func(*Round) (float64, bool)) *float64 {
		var vals []float64
		for _, r := range out.Runs.vals[label] {
			if v, ok := get(r); ok {
				vals = append(vals, v)
			}
		}
		m, ok := median(vals)
		if !ok {
			return nil
		}
		return &m
	}
	for _, row := range summaryRows {
		b, c := fig("baseline", row.get), fig("current", row.get)
		f := Figure{Baseline: b, Current: c}
		rt, ok := ratio(b, c)
		if ok {
			f.Ratio = &rt
		}
		out.Summary.set(row.key, f)
		lines = append(lines, fmt.Sprintf("%-36s %12s %12s %9s", row.name, cell(b, row.unit), cell(c, row.unit), ratioCell(rt, ok)))
	}
	for _, label := range out.Runs.keys {
		for i, r := range out.Runs.vals[label] {
			lines = append(lines, fmt.Sprintf("  %s round %d stages: %s", label, i+1, r.Stages.summary()))
			e := r.Edit
			edit := e.Error
			if edit == "" {
				edit = fmt.Sprintf("%.1f s, %.1f CPU-s (%d stages re-run, watcher's latency %s, load %.1f at the save)",
					e.WallS, e.CPUS, e.Reruns, e.Latency, e.Load)
			}
			lines = append(lines, fmt.Sprintf("  %s round %d: cold %.1f CPU-s / %.1f s / %d MiB (load %.1f at start); edit %s",
				label, i+1, r.Cold.CPUS, r.Cold.WallS, r.Cold.RSSMiB, r.Cold.Load, edit))
		}
	}
	cur := out.Runs.vals["current"][0]
	if base := out.Runs.vals["baseline"]; len(base) > 0 {
		d := tableDiff(base[0].Table, cur.Table, "baseline", "current")
		same := d == identical || d == sameFigures
		out.TableDiff, out.TablesIdentical = &d, &same
		lines = append(lines, "quickstart tables (baseline vs current): "+verdict(d, same))
		if bt, ct := base[0].EditTable, cur.EditTable; bt != "" && ct != "" {
			d := tableDiff(bt, ct, "baseline", "current")
			same := d == identical || d == sameFigures
			out.EditTablesIdentical = &same
			lines = append(lines, "tables after the edit: "+verdict(d, same))
		}
	}
	lines = append(lines, "quickstart table (current):", strings.TrimRight(cur.Table, "\n"))
	out.Table = cur.Table
	return strings.Join(lines, "\n")
}

func verdict(d string, same bool) string {
	if same {
		return d
	}
	return "differ:\n" + strings.TrimRight(d, "\n")
}

func prefix(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// torchTable runs scripts/bench_torch/bench.py (engine vs PyTorch) with
// the system python's torch on OpenBLAS, or says why not.
func torchTable(repo, shapes string) string {
	if os.Getenv("SKIP_TORCH") == "1" {
		return "skipped (SKIP_TORCH=1)"
	}
	env := append(os.Environ(), "LD_LIBRARY_PATH="+torchLib)
	probe := exec.Command(torchPy, "-c", "import torch")
	probe.Env = env
	if _, err := os.Stat(torchPy); err != nil || probe.Run() != nil {
		return fmt.Sprintf("skipped: %s has no torch (apt-get install python3-torch libopenblas0-pthread)", torchPy)
	}
	cmd := exec.Command(torchPy, filepath.Join(repo, "scripts/bench_torch/bench.py"), "--shapes", shapes)
	cmd.Env = env
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return fmt.Sprintf("failed: %v", err)
		}
		e := stderr.String()
		if len(e) > 4000 {
			e = e[len(e)-4000:]
		}
		return fmt.Sprintf("failed (rc %d):\n%s%s", ee.ExitCode(), stdout.String(), e)
	}
	return stdout.String()
}
