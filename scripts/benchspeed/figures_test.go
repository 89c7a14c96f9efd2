package main

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

// A boxed table as crossin draws it, and the same figures laid out plainly
// with the deltas on their own rows.
const (
	boxed = `                       Cross-MMLU
│ Model │ Variant │ Volume │ Acc        │ Cons_3 │
│ tiny  │ base    │ -      │ 30.0       │ 0.25   │
│ tiny  │ x2x-200 │ 200    │ 31.5 (+1.5)│ 0.30   │
provenance: results sha256:0123456789ab
`
	plain = `Model Variant Volume  Acc  Cons_3
tiny  base    -       30.0 0.25
tiny  x2x-200 200     31.5 0.30
Δ     x2x-200         +1.5 +0.05
provenance: results sha256:ba9876543210
`
	changed = `Model Variant Volume  Acc  Cons_3
tiny  base    -       30.0 0.25
tiny  x2x-200 200     32.5 0.30
tiny  en2x    200     29.0 0.20
`
)

func TestTableNumbers(t *testing.T) {
	for _, tc := range []struct {
		name, table string
		want        map[string][]string
	}{
		{"boxed, parenthesised delta left out", boxed, map[string][]string{
			"tiny base": {"30.0", "0.25"}, "tiny x2x-200": {"31.5", "0.30"}}},
		{"plain, delta row and provenance left out", plain, map[string][]string{
			"tiny base": {"30.0", "0.25"}, "tiny x2x-200": {"31.5", "0.30"}}},
		{"markdown pipes", "| tiny | en2x | 3000 | 34.7 | -1.25 |\n", map[string][]string{
			"tiny en2x": {"34.7", "-1.25"}}},
		{"no figures, no row", "tiny base 3000 -\nvalues 1.0 2.0\n", map[string][]string{}},
		{"first cell not a name", "* best 1.0\n", map[string][]string{}},
		{"unicode name", "modèle x2x 1.5\n", map[string][]string{"modèle x2x": {"1.5"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tableNumbers(tc.table)
			if len(got) != len(tc.want) {
				t.Fatalf("tableNumbers = %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if !slices.Equal(got[k], v) {
					t.Errorf("row %q = %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

func TestDecimals(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"30.0 -1.5 0.25", []string{"30.0", "-1.5", "0.25"}},
		{"a1.5 x12.5 v1.2.3", nil}, // continuing a word
		{"a-1.5", []string{"1.5"}}, // after the minus fails, the digits stand alone
		{"1.2.3", []string{"1.2"}}, // the second point continues the first number
		{"7 12. .5 3", nil},        // no decimal point with digits on both sides
		{"(1.0) 2.50%", []string{"1.0", "2.50"}},
		{"—3.25", []string{"3.25"}},
	} {
		if got := decimals(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("decimals(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTableDiff(t *testing.T) {
	for _, tc := range []struct {
		name, a, b, want string
	}{
		{"identical", plain, plain, identical},
		{"layout only", boxed, plain, sameFigures},
		{"figures differ", plain, changed,
			"  tiny en2x            baseline: -\n" +
				"                       current: 29.0 0.20\n" +
				"  tiny x2x-200         baseline: 31.5 0.30\n" +
				"                       current: 32.5 0.30\n"},
		{"text differs, no figures", "no table\n", "no table either\n", "the text differs, the figures do not"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tableDiff(tc.a, tc.b, "baseline", "current"); got != tc.want {
				t.Errorf("tableDiff =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestWatchEvent(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		done       bool
		err        string
		latency    string
	}{
		{"result", `{"time":"2026-12-02T03:00:00Z","kind":"result","reruns":["a","b"],"latency":"1.234s"}`, true, "", "1.234s"},
		{"change", `{"kind":"change","files":["quickstart.cue"]}`, false, "", ""},
		{"error", `{"kind":"error","error":"spec.cue:3:1: bad"}`, false, "crossin watch: spec.cue:3:1: bad", ""},
		{"log line", `crossin: watching 1 file`, false, "", ""},
		{"not an object", `42`, false, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, done, err := watchEvent(tc.line)
			if done != tc.done {
				t.Errorf("done = %v, want %v", done, tc.done)
			}
			if got := errString(err); got != tc.err {
				t.Errorf("err = %q, want %q", got, tc.err)
			}
			if lat, _ := e["latency"].(string); lat != tc.latency {
				t.Errorf("latency = %q, want %q", lat, tc.latency)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestStageProfile(t *testing.T) {
	for _, tc := range []struct {
		name, events string
		summary      string
		json         string
		err          bool
	}{
		{"two kinds over 10 s",
			`{"time":"2026-12-02T03:00:00Z","event":"start","kind":"data"}
not json
{"time":"2026-12-02T03:00:01.5Z","event":"done","kind":"data","seconds":1.5}
{"time":"2026-12-02T03:00:05Z","event":"done","kind":"train","seconds":3.06}
{"time":"2026-12-02T03:00:08Z","event":"done","kind":"train","seconds":3.06}
{"time":"2026-12-02T03:00:10Z","event":"done","seconds":2}
`,
			"data 1 = 1.5 s, train 2 = 6.2 s, ? 1 = 2.0 s; 10 stage-s in 10 s = 0.97 stages at once on average",
			`{"kinds":{"data":{"n":1,"s":1.5},"train":{"n":2,"s":6.2},"?":{"n":1,"s":2}},"stage_s":9.7,"span_s":10,"concurrency":0.97}`,
			false},
		{"last event without a time: no span", `{"time":"2026-12-02T03:00:00Z","event":"done","kind":"data","seconds":4}
{"event":"summary"}
`,
			"data 1 = 4.0 s; 4 stage-s in 0 s = None stages at once on average",
			`{"kinds":{"data":{"n":1,"s":4}},"stage_s":4,"span_s":0,"concurrency":null}`,
			false},
		{"whole concurrency", `{"time":"2026-12-02T03:00:00Z","event":"done","kind":"eval","seconds":4}
{"time":"2026-12-02T03:00:02Z","event":"done","kind":"eval","seconds":4}
`,
			"eval 2 = 8.0 s; 8 stage-s in 2 s = 4.0 stages at once on average",
			`{"kinds":{"eval":{"n":2,"s":8}},"stage_s":8,"span_s":2,"concurrency":4}`,
			false},
		{"empty", "", "; 0 stage-s in 0 s = None stages at once on average", `{"kinds":{},"stage_s":0,"span_s":0,"concurrency":null}`, false},
		{"bad time", `{"time":"yesterday","event":"done","kind":"data","seconds":1}` + "\n", "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := stageProfile(strings.NewReader(tc.events))
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if tc.err {
				return
			}
			if got := p.summary(); got != tc.summary {
				t.Errorf("summary =\n%s\nwant\n%s", got, tc.summary)
			}
			b, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.json {
				t.Errorf("json =\n%s\nwant\n%s", b, tc.json)
			}
		})
	}
}

func TestMedianRatioCells(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	for _, tc := range []struct {
		name      string
		base, cur []float64
		unit      string
		wantB     string
		wantC     string
		wantRatio string
	}{
		{"one round", []float64{60.0}, []float64{20.0}, "s", "60.0 s", "20.0 s", "0.333"},
		{"odd rounds", []float64{9, 1, 5}, []float64{2, 3, 10}, "MiB", "5.0 MiB", "3.0 MiB", "0.600"},
		{"even rounds average the middle two", []float64{1, 2, 3, 4}, []float64{4, 4, 5, 6}, "s", "2.5 s", "4.5 s", "1.800"},
		{"no baseline", nil, []float64{3.14}, "s", "-", "3.1 s", "-"},
		{"zero baseline", []float64{0}, []float64{1}, "s", "0.0 s", "1.0 s", "-"},
		{"no current", []float64{2}, nil, "s", "2.0 s", "-", "-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b, c *float64
			if m, ok := median(tc.base); ok {
				b = f(m)
			}
			if m, ok := median(tc.cur); ok {
				c = f(m)
			}
			if got := cell(b, tc.unit); got != tc.wantB {
				t.Errorf("baseline cell = %q, want %q", got, tc.wantB)
			}
			if got := cell(c, tc.unit); got != tc.wantC {
				t.Errorf("current cell = %q, want %q", got, tc.wantC)
			}
			if got := ratioCell(ratio(b, c)); got != tc.wantRatio {
				t.Errorf("ratio = %q, want %q", got, tc.wantRatio)
			}
		})
	}
}

func TestPyFloat(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{{2, "2.0"}, {0.96, "0.96"}, {1.5, "1.5"}, {-3, "-3.0"}, {123456, "123456.0"}} {
		if got := pyFloat(tc.in); got != tc.want {
			t.Errorf("pyFloat(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestReport(t *testing.T) {
	base := "0123456789abcdef0123456789abcdef01234567"
	round := func(label string, cpu float64, table string, edit Edit) *Round {
		p, err := stageProfile(strings.NewReader(`{"time":"2026-12-02T03:00:00Z","event":"done","kind":"train","seconds":3}
{"time":"2026-12-02T03:00:02Z","event":"done","kind":"eval","seconds":1}
`))
		if err != nil {
			t.Fatal(err)
		}
		return &Round{Build: label, Cold: Cold{CPUS: cpu, WallS: cpu / 2, RSSMiB: 300, Load: 1.5}, Table: table, Stages: p,
			Edit: edit, EditTable: table}
	}
	out := Output{Baseline: &base, Rounds: 1, Head: "fedcba9876543210fedcba9876543210fedcba98", NProc: 2}
	out.Runs.set("baseline", []*Round{round("baseline", 60, boxed, Edit{Error: errors.New("no table from crossin watch within 1800s").Error()})})
	out.Runs.set("current", []*Round{round("current", 20, plain, Edit{WallS: 2.5, CPUS: 4, Latency: "2.4s", Load: 1.2, Reruns: 3})})
	text := report(&out, "/repo/bin/crossin", []string{"spec: experiments/quickstart.cue is the same in both trees"})
	lines := strings.Split(text, "\n")
	if !strings.HasPrefix(lines[0], "crossin bench-speed: /repo/bin/crossin (HEAD fedcba987654) vs baseline 0123456789ab, 1 round(s), 2 CPUs, load ") {
		t.Errorf("first line %q", lines[0])
	}
	for _, want := range []string{
		"spec: experiments/quickstart.cue is the same in both trees",
		"median over rounds                       baseline      current  cur/base",
		"quickstart cold CPU (user+sys)             60.0 s       20.0 s     0.333",
		"quickstart cold peak RSS                300.0 MiB    300.0 MiB     1.000",
		"one-cell edit, save -> table                    -        2.5 s         -",
		"  baseline round 1 stages: train 1 = 3.0 s, eval 1 = 1.0 s; 4 stage-s in 2 s = 2.0 stages at once on average",
		"  baseline round 1: cold 60.0 CPU-s / 30.0 s / 300 MiB (load 1.5 at start); edit no table from crossin watch within 1800s",
		"  current round 1: cold 20.0 CPU-s / 10.0 s / 300 MiB (load 1.5 at start); edit 2.5 s, 4.0 CPU-s (3 stages re-run, watcher's latency 2.4s, load 1.2 at the save)",
		"quickstart tables (baseline vs current): same figures (only the text around them differs)",
		"tables after the edit: same figures (only the text around them differs)",
		"quickstart table (current):",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("report lacks line %q:\n%s", want, text)
		}
	}
	if !strings.HasSuffix(text, strings.TrimRight(plain, "\n")) {
		t.Errorf("report does not end with the current table:\n%s", text)
	}
	if out.TablesIdentical == nil || !*out.TablesIdentical || out.EditTablesIdentical == nil || !*out.EditTablesIdentical {
		t.Errorf("tables_identical %v, edit_tables_identical %v, want both true", out.TablesIdentical, out.EditTablesIdentical)
	}
	if s := out.Summary.vals["edit_wall_s"]; s.Baseline != nil || s.Ratio != nil || s.Current == nil || *s.Current != 2.5 {
		t.Errorf("summary edit_wall_s = %+v", s)
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`{"baseline":"0123456789abcdef0123456789abcdef01234567","rounds":1,"head":"fedcba9876543210fedcba9876543210fedcba98","nproc":2,"summary":{"cold_cpu_s":{"baseline":60,"current":20,"ratio":0.333},`,
		`"edit":{"error":"no table from crossin watch within 1800s"}`,
		`"edit":{"wall_s":2.5,"cpu_s":4,"latency":"2.4s","load":1.2,"reruns":3}`,
		`"tables_identical":true,"edit_tables_identical":true,`,
		`"runs":{"baseline":[{"build":"baseline",`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s:\n%s", want, b)
		}
	}
}
