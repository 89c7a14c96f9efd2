package provenance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/crossin-lab/crossin/metrics"
	"github.com/crossin-lab/crossin/resultset"
	"github.com/crossin-lab/crossin/runner"
	"github.com/crossin-lab/crossin/runner/cache"
	"github.com/crossin-lab/crossin/runner/plan"
	"github.com/crossin-lab/crossin/schema"
)

// Verdict is what Verify concludes about one row.
type Verdict string

// Verdicts, from best to worst.
const (
	// Verified: every stage's key re-derives to the recorded ActionID,
	// the cache holds exactly the recorded outputs, and the score read
	// from them equals the recorded one.
	Verified Verdict = "verified"
	// Unpinned: the row depends on a tag or branch that may move; it is
	// never called verified, whatever the cache holds.
	Unpinned Verdict = "unpinned"
	// WouldRerun: a key differs from the record (an input changed) or an
	// output is in neither cache; Reasons say which and why.
	WouldRerun Verdict = "would re-run"
	// Mismatch: a recorded value differs from what the spec derives or
	// the cache holds; Mismatches name the fields.
	Mismatch Verdict = "mismatch"
	// Unrecorded: the row carries no provenance (an old record) or no
	// score (it failed or did not run).
	Unrecorded Verdict = "unrecorded"
)

// Field is one recorded value that differs from what was found.
type Field struct {
	Field    string `json:"field"`    // e.g. "score.overall_acc", "train.output", "image_digest"
	Recorded string `json:"recorded"` // as in the record
	Found    string `json:"found"`    // as derived from the spec or read from the cache
}

func (f Field) String() string {
	return fmt.Sprintf("%s: recorded %s, found %s", f.Field, f.Recorded, f.Found)
}

// RowCheck is the outcome for one row of the record.
type RowCheck struct {
	Row        int      `json:"row"` // index in the record, from 0
	Cell       string   `json:"cell"`
	Benchmark  string   `json:"benchmark"`
	Verdict    Verdict  `json:"verdict"`
	Mismatches []Field  `json:"mismatches,omitempty"`
	Reasons    []string `json:"reasons,omitempty"`
}

// Name is how a row is named in messages: "CELL BENCHMARK (row N)".
func (r RowCheck) Name() string {
	return fmt.Sprintf("%s %s (row %d)", r.Cell, r.Benchmark, r.Row+1)
}

// Verification is the outcome of Verify.
type Verification struct {
	Experiment string      `json:"experiment"`
	Spec       *SpecSource `json:"spec,omitempty"`
	// Digest compares the record's stored digest with its rows' hash.
	Digest Field      `json:"digest"`
	Rows   []RowCheck `json:"rows"`
}

// DigestOK reports whether the stored digest matches the rows.
func (v *Verification) DigestOK() bool { return v.Digest.Recorded == v.Digest.Found }

// OK reports whether every row is verified and the digest matches.
func (v *Verification) OK() bool {
	if !v.DigestOK() || len(v.Rows) == 0 {
		return false
	}
	for _, r := range v.Rows {
		if r.Verdict != Verified {
			return false
		}
	}
	return true
}

// Counts returns the number of rows per verdict.
func (v *Verification) Counts() map[Verdict]int {
	m := map[Verdict]int{}
	for _, r := range v.Rows {
		m[r.Verdict]++
	}
	return m
}

type config struct {
	cache   *cache.Cache
	remote  runner.RemoteCache
	popts   []plan.Option
	records *plan.Records
	pins    runner.Pins
	spec    *SpecSource
}

// Option configures Verify and Reproduce.
type Option func(*config)

// WithCache sets the local cache checked (and its explain records).
func WithCache(c *cache.Cache) Option { return func(cf *config) { cf.cache = c } }

// WithRemote adds a remote cache, asked for outputs the local one lacks.
func WithRemote(r runner.RemoteCache) Option { return func(cf *config) { cf.remote = r } }

// WithPlanOptions passes options (resolvers, code versions) to the plan
// the keys are re-derived with; they must be the ones `crossin run` uses.
func WithPlanOptions(o ...plan.Option) Option {
	return func(cf *config) { cf.popts = append(cf.popts, o...) }
}

// WithPins vouches for references pinned outside the spec (crossin.lock).
func WithPins(p runner.Pins) Option { return func(cf *config) { cf.pins = p } }

// WithSpecSource records where the spec came from (see LoadSpec).
func WithSpecSource(s *SpecSource) Option { return func(cf *config) { cf.spec = s } }

// Verify checks rec against spec (the recorded spec, see LoadSpec) and the
// caches. It re-derives every stage key behind each row from the spec,
// feeding each stage the recorded outputs of its inputs, so that each key
// is checked on its own; then it looks every recorded output up by its key
// in the local cache and, failing that, the remote one, and compares the
// scores read from the cache with the recorded ones. Nothing runs and
// nothing is written, except that a corrupt local entry is removed as on
// every cache read.
func Verify(ctx context.Context, rec *resultset.Set, spec *schema.Spec, opts ...Option) (*Verification, error) {
	cf := &config{}
	for _, o := range opts {
		o(cf)
	}
	if cf.cache == nil {
		return nil, errors.New("verify: no cache")
	}
	if cf.records == nil {
		cf.records = plan.OpenRecords(cf.cache.Dir())
	}
	popts := append([]plan.Option{plan.WithCache(cf.cache), plan.WithContext(ctx),
		plan.WithCodeVersion(plan.KindReport, runner.ReportCodeVersion)}, cf.popts...)
	popts = append(popts, plan.WithExperiments(rec.Experiment))
	p, err := plan.Build(spec, popts...)
	if err != nil {
		return nil, err
	}
	v := &Verification{Experiment: rec.Experiment, Spec: cf.spec,
		Digest: Field{Field: "digest", Recorded: rec.Digest, Found: rec.ComputeDigest()}}
	ck := &checker{ctx: ctx, cf: cf, p: p, outputs: map[string]found{}}
	defer ck.cleanup()
	var reportRows []plan.ReportRow
	if len(p.Experiments) == 1 {
		if rs := p.Stage(p.Experiments[0].Report); rs != nil && rs.Report != nil {
			reportRows = rs.Report.Rows
		}
	}
	for i, row := range rec.Rows {
		rc := RowCheck{Row: i, Cell: row.Cell, Benchmark: row.Benchmark}
		ck.row(&rc, row, reportRows)
		switch {
		case len(rc.Mismatches) > 0:
			rc.Verdict = Mismatch
		case rc.Verdict != "":
		case len(rc.Reasons) > 0 && ck.rerun:
			rc.Verdict = WouldRerun
		case len(rc.Reasons) > 0:
			rc.Verdict = Unpinned
		default:
			rc.Verdict = Verified
		}
		v.Rows = append(v.Rows, rc)
	}
	return v, nil
}

// found is the outcome of looking an action up in the caches.
type found struct {
	output string // OutputID, "" when in neither cache
	dir    string // where the outputs are readable
	where  string // "local", "remote"
	err    error
}

type checker struct {
	ctx     context.Context
	cf      *config
	p       *plan.Plan
	outputs map[string]found // by ActionID
	tmp     []string
	rerun   bool // the current row has a reason to re-run
}

func (ck *checker) cleanup() {
	for _, d := range ck.tmp {
		os.RemoveAll(d)
	}
}

// lookup finds the output of an action: the local cache (re-hashing the
// tree), else the remote cache (pulled into a temporary directory and
// hashed there).
func (ck *checker) lookup(action string) found {
	if f, ok := ck.outputs[action]; ok {
		return f
	}
	var f found
	e, err := ck.cf.cache.Get(action)
	switch {
	case err == nil:
		f = found{output: e.OutputID, dir: ck.cf.cache.OutputDir(e.OutputID), where: "local"}
	case !errors.Is(err, cache.ErrNotFound):
		f.err = err
	}
	if f.output == "" && ck.cf.remote != nil {
		dir, err := os.MkdirTemp("", "crossin-verify-")
		if err == nil {
			ck.tmp = append(ck.tmp, dir)
			dest := filepath.Join(dir, "out")
			ok, err := ck.cf.remote.Fetch(ck.ctx, action, dest)
			switch {
			case err != nil:
				f.err = fmt.Errorf("remote cache: %w", err)
			case ok:
				sum, err := cache.TreeHash(dest)
				if err != nil {
					f.err = fmt.Errorf("remote cache: %w", err)
				} else {
					f = found{output: sum.ID, dir: dest, where: "remote"}
				}
			}
		}
	}
	ck.outputs[action] = f
	return f
}

// chain returns the plan's stages behind a score stage, pipeline order.
func (ck *checker) chain(scoreID string) []*plan.Stage {
	var out []*plan.Stage
	var visit func(id string)
	seen := map[string]bool{}
	visit = func(id string) {
		if seen[id] {
			return
		}
		seen[id] = true
		s := ck.p.Stage(id)
		if s == nil {
			return
		}
		for _, in := range s.Inputs {
			visit(in.Stage)
		}
		out = append(out, s)
	}
	visit(scoreID)
	return out
}

func (ck *checker) row(rc *RowCheck, row resultset.Row, reportRows []plan.ReportRow) {
	ck.rerun = false
	mismatch := func(field, rec, found string) {
		rc.Mismatches = append(rc.Mismatches, Field{Field: field, Recorded: rec, Found: found})
	}
	rerun := func(format string, args ...any) {
		ck.rerun = true
		rc.Reasons = append(rc.Reasons, fmt.Sprintf(format, args...))
	}
	rs := row.Source
	if rs == nil {
		rc.Verdict = Unrecorded
		rc.Reasons = append(rc.Reasons, "the record has no provenance for this row (written before crossin recorded it)")
		return
	}
	var pr *plan.ReportRow
	for i := range reportRows {
		if reportRows[i].Cell == row.Cell && reportRows[i].Benchmark == row.Benchmark {
			pr = &reportRows[i]
		}
	}
	if pr == nil {
		rerun("the spec has no cell %s evaluated on %s", row.Cell, row.Benchmark)
		return
	}
	// The row's labels come from the spec.
	if pr.Model != row.Model {
		mismatch("model", row.Model, pr.Model)
	}
	if pr.Mixture != row.Mixture {
		mismatch("mixture", row.Mixture, pr.Mixture)
	}
	if pv := orEmpty(pr.Variants); !slices.Equal(pv, orEmpty(row.Variants)) {
		mismatch("variants", strings.Join(row.Variants, "+"), strings.Join(pv, "+"))
	}
	if pr.Volume != row.Volume {
		mismatch("volume", row.Volume, pr.Volume)
	}
	if pr.Seed != row.Seed {
		mismatch("seed", strconv.FormatInt(row.Seed, 10), strconv.FormatInt(pr.Seed, 10))
	}

	// Re-derive each key from the spec and the recorded outputs of its
	// inputs, so that each stage is checked on its own.
	recOut := map[string]string{}
	for _, st := range rs.Stages {
		recOut[st.ID] = st.Output
	}
	chain := ck.chain(pr.Score)
	for _, s := range chain {
		ck.p.RekeyStage(s, plan.OutputsFromMap(recOut))
	}
	derived := runner.RowSource(ck.p, pr.Score)
	runner.ApplyPins(&resultset.Set{Rows: []resultset.Row{{Source: derived}}}, ck.cf.pins)

	keysMatch := true
	var scoreDir string
	for _, ds := range derived.Stages {
		st := rs.Stage(ds.Kind)
		ps := ck.p.Stage(ds.ID)
		if st == nil {
			keysMatch = false
			rerun("%s: the record has no %s stage; the spec has %s", ds.ID, ds.Kind, ds.ID)
			continue
		}
		if len(ps.Unresolved) > 0 {
			keysMatch = false
			rerun("%s: its key cannot be derived: %s", ds.ID, strings.Join(ps.Unresolved, "; "))
			continue
		}
		if ds.Action != st.Action {
			keysMatch = false
			rerun("%s: %s", ds.ID, ck.why(ps, st.Action))
			continue
		}
		f := ck.lookup(ds.Action)
		switch {
		case f.output == "" && f.err != nil:
			rerun("%s: not verifiable from the cache: %v", ds.ID, f.err)
		case f.output == "":
			where := "the local cache"
			if ck.cf.remote != nil {
				where += " nor the remote cache"
			}
			rerun("%s: not in %s (run it to rebuild)", ds.ID, where)
		case f.output != st.Output:
			mismatch(ds.Kind+".output", st.Output, f.output+" ("+f.where+" cache)")
		case ds.Kind == string(plan.KindScore):
			scoreDir = f.dir
		}
	}
	for _, st := range rs.Stages {
		if derived.Stage(st.Kind) == nil {
			keysMatch = false
			rerun("%s: the spec no longer has this %s stage", st.ID, st.Kind)
		}
	}
	// Pinned inputs: when every key matched, any other difference is in
	// the record, not in the spec.
	if keysMatch {
		cmp := func(field, rec, found string) {
			if rec != found {
				mismatch(field, quoteOr(rec), quoteOr(found))
			}
		}
		cmp("model_commit", rs.ModelCommit, derived.ModelCommit)
		cmp("data_commits", mapString(rs.DataCommits), mapString(derived.DataCommits))
		cmp("benchmark_commit", rs.BenchmarkCommit, derived.BenchmarkCommit)
		cmp("backend", rs.Backend, derived.Backend)
		cmp("image_digest", rs.ImageDigest, derived.ImageDigest)
		cmp("engine", rs.Engine, derived.Engine)
		for i := range rs.Stages {
			if ds := derived.Stage(rs.Stages[i].Kind); ds != nil && ds.ID != rs.Stages[i].ID {
				cmp(rs.Stages[i].Kind+".id", rs.Stages[i].ID, ds.ID)
			}
		}
		cmp("unpinned", strings.Join(rs.Unpinned, ", "), strings.Join(derived.Unpinned, ", "))
	}
	// The score as the cache holds it.
	switch {
	case row.Status != resultset.StatusOK || row.Score == nil:
		if len(rc.Mismatches) == 0 && !ck.rerun {
			rc.Verdict = Unrecorded
			rc.Reasons = append(rc.Reasons, "the record has no score for this row (status "+row.Status+")")
		}
	case scoreDir != "":
		got, err := runner.ReadScore(scoreDir)
		if err != nil {
			rerun("score: %v", err)
			break
		}
		rc.Mismatches = append(rc.Mismatches, diffScores(row.Score, got)...)
	}
	unp := append(append([]string(nil), rs.Unpinned...), derived.Unpinned...)
	for _, u := range dedupStrings(unp) {
		rc.Reasons = append(rc.Reasons, "unpinned reference "+u+" (pin it to a commit or digest, or in crossin.lock)")
	}
}

// why explains a key that differs from the recorded one, with explain's
// comparison when the cache's records hold the recorded description.
func (ck *checker) why(s *plan.Stage, recorded string) string {
	old, ok, err := ck.cf.records.Load(s.ID)
	if err == nil && ok && old.ActionID() == recorded {
		var changes []string
		for _, c := range plan.Diff(old, s.Key) {
			if plan.IsInput(c.Component) {
				continue
			}
			changes = append(changes, c.String())
		}
		if len(changes) > 0 {
			return "key changed: " + strings.Join(changes, "; ")
		}
	}
	why := "key " + short(s.ActionID) + " differs from the recorded " + short(recorded)
	if ck.cf.spec != nil && len(ck.cf.spec.Changed) > 0 {
		why += " (spec changed: " + strings.Join(ck.cf.spec.Changed, ", ") + ")"
	} else {
		why += " (this cache holds no description of the recorded key to compare with)"
	}
	return why
}

// diffScores names the score fields that differ, as SeaEval's JSON keys.
func diffScores(rec, got *metrics.Result) []Field {
	a, err1 := rec.MarshalJSON()
	b, err2 := got.MarshalJSON()
	if err1 != nil || err2 != nil || bytes.Equal(a, b) {
		return nil
	}
	var am, bm map[string]json.RawMessage
	if json.Unmarshal(a, &am) != nil || json.Unmarshal(b, &bm) != nil {
		return []Field{{Field: "score", Recorded: string(a), Found: string(b)}}
	}
	keys := map[string]bool{}
	for k := range am {
		keys[k] = true
	}
	for k := range bm {
		keys[k] = true
	}
	var out []Field
	for _, k := range sortedKeys(keys) {
		if !jsonEqual(am[k], bm[k]) {
			out = append(out, Field{Field: "score." + k, Recorded: compactJSON(am[k]), Found: compactJSON(bm[k])})
		}
	}
	return out
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	ca, _ := json.Marshal(x)
	cb, _ := json.Marshal(y)
	return bytes.Equal(ca, cb)
}

func compactJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "(absent)"
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	s := b.String()
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func mapString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

func quoteOr(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func dedupStrings(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
