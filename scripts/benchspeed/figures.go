package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Kind is the count and seconds of one stage kind in a run.
type Kind struct {
	N int     `json:"n"`
	S float64 `json:"s"`
}

// Kinds keeps the stage kinds in the order the run first finished one, so
// the report lists them as they happened; it marshals as a JSON object in
// that order.
type Kinds struct {
	Names []string
	By    map[string]*Kind
}

// MarshalJSON writes the kinds as one object, keys in order.
func (k Kinds) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, name := range k.Names {
		if i > 0 {
			b.WriteByte(',')
		}
		key, _ := json.Marshal(name)
		val, err := json.Marshal(k.By[name])
		if err != nil {
			return nil, err
		}
		b.Write(key)
		b.WriteByte(':')
		b.Write(val)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Profile is where a run's stage time went: seconds per stage kind, and
// how many stages ran at once on average (stage-seconds over the span
// from the first to the last event). Concurrency is nil for a zero span.
type Profile struct {
	Kinds       Kinds    `json:"kinds"`
	StageS      float64  `json:"stage_s"`
	SpanS       float64  `json:"span_s"`
	Concurrency *float64 `json:"concurrency"`
}

// stageProfile reads `crossin run --json` events. Lines that are not JSON
// objects are skipped; the span runs from the first event with a time to
// the last event (none when that one has no time).
func stageProfile(r io.Reader) (Profile, error) {
	p := Profile{Kinds: Kinds{By: map[string]*Kind{}}}
	var first, last string
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var e map[string]any
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		t, _ := e["time"].(string)
		if first == "" {
			first = t
		}
		last = t
		if e["event"] != "done" {
			continue
		}
		name, ok := e["kind"].(string)
		if !ok {
			name = "?"
		}
		k := p.Kinds.By[name]
		if k == nil {
			k = &Kind{}
			p.Kinds.By[name] = k
			p.Kinds.Names = append(p.Kinds.Names, name)
		}
		secs, _ := e["seconds"].(float64)
		k.N++
		k.S = round(k.S+secs, 1)
	}
	if err := sc.Err(); err != nil {
		return p, err
	}
	var span float64
	if first != "" && last != "" {
		t0, err0 := time.Parse(time.RFC3339Nano, first)
		t1, err1 := time.Parse(time.RFC3339Nano, last)
		if err0 != nil || err1 != nil {
			return p, fmt.Errorf("event times %q, %q: want RFC 3339", first, last)
		}
		span = t1.Sub(t0).Seconds()
	}
	var total float64
	for _, name := range p.Kinds.Names {
		total += p.Kinds.By[name].S
	}
	p.StageS, p.SpanS = round(total, 1), round(span, 1)
	if span != 0 {
		c := round(total/span, 2)
		p.Concurrency = &c
	}
	return p, nil
}

// summary is the profile's line in the report.
func (p Profile) summary() string {
	var parts []string
	for _, name := range p.Kinds.Names {
		k := p.Kinds.By[name]
		parts = append(parts, fmt.Sprintf("%s %d = %.1f s", name, k.N, k.S))
	}
	conc := "None"
	if p.Concurrency != nil {
		conc = pyFloat(*p.Concurrency)
	}
	return fmt.Sprintf("%s; %.0f stage-s in %.0f s = %s stages at once on average",
		strings.Join(parts, ", "), p.StageS, p.SpanS, conc)
}

// watchEvent classifies one line of `crossin watch --json` output: a
// "result" event (a fresh table) is returned with done set, an "error"
// event is an error, and anything else (other events, log lines on the
// shared stream, lines that are not JSON objects) is neither.
func watchEvent(line string) (e map[string]any, done bool, err error) {
	if json.Unmarshal([]byte(line), &e) != nil {
		return nil, false, nil
	}
	switch e["kind"] {
	case "error":
		msg, _ := e["error"].(string)
		return nil, false, fmt.Errorf("crossin watch: %s", msg)
	case "result":
		return e, true, nil
	}
	return nil, false, nil
}

var rowName = regexp.MustCompile(`^[\p{L}\p{N}_.-]+$`)
var parenthesised = regexp.MustCompile(`\([^)]*\)`)

// tableNumbers returns the figures of a table by row (variant), whatever
// its layout: the builds may draw the table differently (boxes or not,
// deltas in parentheses or on their own rows), so figures are compared,
// not text. Delta rows and parenthesised deltas are left out.
func tableNumbers(table string) map[string][]string {
	rows := map[string][]string{}
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Fields(strings.NewReplacer("│", " ", "|", " ").Replace(line))
		if len(cells) == 0 || cells[0] == "Δ" || cells[0] == "values" || cells[0] == "provenance:" || !rowName.MatchString(cells[0]) {
			continue
		}
		nums := decimals(parenthesised.ReplaceAllString(line, " "))
		if len(cells) > 1 && len(nums) > 0 {
			rows[cells[0]+" "+cells[1]] = nums
		}
	}
	return rows
}

// decimals finds the numbers with a decimal point (-?\d+\.\d+) that do not
// continue a word or another number: what is not preceded by a letter,
// digit, underscore or point.
func decimals(s string) []string {
	r := []rune(s)
	var out []string
	for i := 0; i < len(r); {
		if i > 0 && (isWord(r[i-1]) || r[i-1] == '.') {
			i++
			continue
		}
		j := i
		if j < len(r) && r[j] == '-' {
			j++
		}
		d0 := j
		for j < len(r) && unicode.IsDigit(r[j]) {
			j++
		}
		if j == d0 || j >= len(r) || r[j] != '.' {
			i++
			continue
		}
		j++
		f0 := j
		for j < len(r) && unicode.IsDigit(r[j]) {
			j++
		}
		if j == f0 {
			i++
			continue
		}
		out = append(out, string(r[i:j]))
		i = j
	}
	return out
}

func isWord(c rune) bool {
	return c == '_' || unicode.IsLetter(c) || unicode.IsNumber(c)
}

// The verdicts of tableDiff that mean the figures agree.
const (
	identical   = "identical"
	sameFigures = "same figures (only the text around them differs)"
)

// tableDiff is "identical" when the tables' text is, "same figures" when
// only the layout differs, else the rows whose figures differ.
func tableDiff(a, b, nameA, nameB string) string {
	if a == b {
		return identical
	}
	na, nb := tableNumbers(a), tableNumbers(b)
	equal := len(na) == len(nb)
	for row, v := range na {
		w, ok := nb[row]
		equal = equal && ok && slices.Equal(v, w)
	}
	if len(na) > 0 && equal {
		return sameFigures
	}
	var rows []string
	for row := range na {
		rows = append(rows, row)
	}
	for row := range nb {
		if _, ok := na[row]; !ok {
			rows = append(rows, row)
		}
	}
	slices.Sort(rows)
	var out strings.Builder
	for _, row := range rows {
		v, okA := na[row]
		w, okB := nb[row]
		if okA == okB && slices.Equal(v, w) {
			continue
		}
		fmt.Fprintf(&out, "  %-20s %s: %s\n  %-20s %s: %s\n", row, nameA, figures(v, okA), "", nameB, figures(w, okB))
	}
	if out.Len() == 0 {
		return "the text differs, the figures do not"
	}
	return out.String()
}

func figures(v []string, ok bool) string {
	if !ok {
		return "-"
	}
	return strings.Join(v, " ")
}

// median of vals; ok is false for none.
func median(vals []float64) (m float64, ok bool) {
	if len(vals) == 0 {
		return 0, false
	}
	s := slices.Sorted(slices.Values(vals))
	n := len(s)
	if n%2 == 1 {
		return s[n/2], true
	}
	return (s[n/2-1] + s[n/2]) / 2, true
}

// ratio is cur/base rounded to 3 places; ok is false when either is
// missing or base is zero.
func ratio(base, cur *float64) (r float64, ok bool) {
	if base == nil || cur == nil || *base == 0 {
		return 0, false
	}
	return round(*cur / *base, 3), true
}

// cell formats a figure of the summary table: "-" when missing.
func cell(v *float64, unit string) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f %s", *v, unit)
}

// ratioCell formats a ratio of the summary table.
func ratioCell(r float64, ok bool) string {
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.3f", r)
}

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

// pyFloat writes a float the way the report always has (Python's repr):
// the shortest form, with ".0" on whole numbers.
func pyFloat(v float64) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.ContainsAny(s, ".eEIN") {
		s += ".0"
	}
	return s
}
