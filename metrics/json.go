package metrics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// crossinKey holds what crossin adds to SeaEval's score format (benchmark,
// question count, language order, bootstrap intervals). SeaEval tools ignore
// it.
const crossinKey = "crossin"

type crossinExtra struct {
	Benchmark string                `json:"benchmark,omitempty"`
	N         int                   `json:"n"`
	Languages []string              `json:"languages"`
	AccCI95   map[string][2]float64 `json:"language_acc_ci95,omitempty"`
}

// MarshalSeaEval writes r exactly as SeaEval writes its score files
// (Python's json.dump with indent=4: keys in SeaEval's order, floats in
// Python's shortest repr), so that a score computed here can be diffed with a
// published *_score.json byte for byte.
func (r *Result) MarshalSeaEval() ([]byte, error) {
	var b bytes.Buffer
	if err := r.writeSeaEval(&b, false); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// MarshalJSON writes SeaEval's keys in SeaEval's order followed by a
// "crossin" object with the benchmark name, question count, language order
// and the bootstrap intervals.
//
// It has a value receiver so that a Result embedded by value (not only by
// pointer) in another struct is still written with SeaEval's keys.
func (r Result) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	if err := (&r).writeSeaEval(&b, true); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (r *Result) writeSeaEval(b *bytes.Buffer, extra bool) error {
	langs := r.Languages
	if len(langs) == 0 {
		langs = sortedKeys(r.LanguageAcc)
	}
	ks := r.ks()
	ind := func(n int) string { return strings.Repeat("    ", n) }
	var err error
	num := func(x float64) string {
		s, e := PyFloat(x)
		if e != nil && err == nil {
			err = e
		}
		return s
	}
	var items []string
	items = append(items, fmt.Sprintf("%s\"overall_acc\": %s", ind(1), num(r.OverallAcc)))
	var la []string
	for _, l := range langs {
		la = append(la, fmt.Sprintf("%s%s: %s", ind(2), pyString(l), num(r.LanguageAcc[l])))
	}
	items = append(items, fmt.Sprintf("%s\"language_acc\": %s", ind(1), block(la, ind(1))))
	for _, k := range ks {
		items = append(items, fmt.Sprintf("%s\"consistency_score_%d\": %s", ind(1), k, num(r.Consistency[k])))
	}
	var det []string
	for _, k := range ks {
		var sub []string
		for _, name := range r.subsetNames(k, langs) {
			sub = append(sub, fmt.Sprintf("%s%s: %s", ind(3), pyString(name), num(r.Detailed[k][name])))
		}
		det = append(det, fmt.Sprintf("%s\"%d_combine\": %s", ind(2), k, block(sub, ind(2))))
	}
	items = append(items, fmt.Sprintf("%s\"detailed_consistency_score\": %s", ind(1), block(det, ind(1))))
	for _, k := range ks {
		items = append(items, fmt.Sprintf("%s\"AC3_%d\": %s", ind(1), k, num(r.AC3[k])))
	}
	if extra {
		x := crossinExtra{Benchmark: r.Benchmark, N: r.N, Languages: langs, AccCI95: r.AccCI}
		for _, ci := range r.AccCI {
			if math.IsNaN(ci[0]) || math.IsInf(ci[0], 0) || math.IsNaN(ci[1]) || math.IsInf(ci[1], 0) {
				return fmt.Errorf("metrics: bootstrap interval is not finite")
			}
		}
		j, e := json.MarshalIndent(x, ind(1), "    ")
		if e != nil {
			return e
		}
		items = append(items, fmt.Sprintf("%s\"%s\": %s", ind(1), crossinKey, j))
	}
	b.WriteString(block(items, ""))
	return err
}

// block renders "{\n" + items joined by ",\n" + "\n" + indent + "}", or "{}".
func block(items []string, indent string) string {
	if len(items) == 0 {
		return "{}"
	}
	return "{\n" + strings.Join(items, ",\n") + "\n" + indent + "}"
}

// ks returns the subset sizes present, ascending.
func (r *Result) ks() []int {
	seen := map[int]bool{}
	for k := range r.Consistency {
		seen[k] = true
	}
	for k := range r.Detailed {
		seen[k] = true
	}
	for k := range r.AC3 {
		seen[k] = true
	}
	var ks []int
	for k := range seen {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	return ks
}

// subsetNames lists the k-subsets of langs in itertools.combinations order,
// followed by any other names present in Detailed[k] (sorted), so nothing
// is dropped from a result that was read from a file.
func (r *Result) subsetNames(k int, langs []string) []string {
	var names []string
	seen := map[string]bool{}
	for _, c := range Combinations(len(langs), k) {
		n := SubsetName(langs, c)
		if _, ok := r.Detailed[k][n]; ok {
			names = append(names, n)
			seen[n] = true
		}
	}
	var rest []string
	for n := range r.Detailed[k] {
		if !seen[n] {
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	return append(names, rest...)
}

// SubsetName names a language subset as SeaEval does: the languages joined
// by ",".
func SubsetName(langs []string, idx []int) string {
	parts := make([]string, len(idx))
	for i, j := range idx {
		parts[i] = langs[j]
	}
	return strings.Join(parts, ",")
}

func sortedKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// pyString quotes s as Python's json.dumps does by default (ASCII only).
func pyString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || (r >= 0x7f && r < 0x10000):
			fmt.Fprintf(&b, `\u%04x`, r)
		case r >= 0x10000:
			r -= 0x10000
			fmt.Fprintf(&b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// PyFloat formats x as Python's repr (and so json.dumps) does: the shortest
// digits that round-trip, in positional notation when the decimal exponent
// is in [-4, 16), otherwise in scientific notation with a signed exponent of
// at least two digits; integral values keep ".0". NaN and infinities are
// errors, since JSON cannot carry them.
func PyFloat(x float64) (string, error) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "", fmt.Errorf("metrics: %v cannot be written as JSON", x)
	}
	if x == 0 {
		if math.Signbit(x) {
			return "-0.0", nil
		}
		return "0.0", nil
	}
	e := strconv.FormatFloat(x, 'e', -1, 64) // d.ddde±XX
	sign := ""
	if e[0] == '-' {
		sign, e = "-", e[1:]
	}
	mant, exps, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(exps)
	digits := strings.Replace(mant, ".", "", 1)
	decpt := exp + 1 // value = 0.digits * 10^decpt
	if decpt > -4 && decpt <= 16 {
		switch {
		case decpt <= 0:
			return sign + "0." + strings.Repeat("0", -decpt) + digits, nil
		case decpt >= len(digits):
			return sign + digits + strings.Repeat("0", decpt-len(digits)) + ".0", nil
		default:
			return sign + digits[:decpt] + "." + digits[decpt:], nil
		}
	}
	m := digits[:1]
	if len(digits) > 1 {
		m += "." + digits[1:]
	}
	es := "+"
	if exp < 0 {
		es, exp = "-", -exp
	}
	return fmt.Sprintf("%s%se%s%02d", sign, m, es, exp), nil
}

// UnmarshalJSON reads a SeaEval score file (or crossin's JSON form of a
// Result). The language order is taken from language_acc's key order, as
// SeaEval writes it.
func (r *Result) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := expectDelim(dec, '{'); err != nil {
		return fmt.Errorf("score: %w", err)
	}
	*r = Result{LanguageAcc: map[string]float64{}, Consistency: map[int]float64{}, AC3: map[int]float64{}, Detailed: map[int]map[string]float64{}}
	var extraLangs []string
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return fmt.Errorf("score: %w", err)
		}
		key := kt.(string)
		switch {
		case key == "overall_acc":
			if r.OverallAcc, err = readFloat(dec); err != nil {
				return fmt.Errorf("score: overall_acc: %w", err)
			}
		case key == "language_acc":
			names, vals, err := readOrderedFloats(dec)
			if err != nil {
				return fmt.Errorf("score: language_acc: %w", err)
			}
			r.Languages = names
			for i, n := range names {
				r.LanguageAcc[n] = vals[i]
			}
		case strings.HasPrefix(key, "consistency_score_"):
			k, err := strconv.Atoi(strings.TrimPrefix(key, "consistency_score_"))
			if err != nil {
				return fmt.Errorf("score: bad key %q", key)
			}
			if r.Consistency[k], err = readFloat(dec); err != nil {
				return fmt.Errorf("score: %s: %w", key, err)
			}
		case strings.HasPrefix(key, "AC3_"):
			k, err := strconv.Atoi(strings.TrimPrefix(key, "AC3_"))
			if err != nil {
				return fmt.Errorf("score: bad key %q", key)
			}
			if r.AC3[k], err = readFloat(dec); err != nil {
				return fmt.Errorf("score: %s: %w", key, err)
			}
		case key == "detailed_consistency_score":
			if err := expectDelim(dec, '{'); err != nil {
				return fmt.Errorf("score: detailed_consistency_score: %w", err)
			}
			for dec.More() {
				st, err := dec.Token()
				if err != nil {
					return fmt.Errorf("score: detailed_consistency_score: %w", err)
				}
				sk := st.(string)
				k, err := strconv.Atoi(strings.TrimSuffix(sk, "_combine"))
				if err != nil || !strings.HasSuffix(sk, "_combine") {
					return fmt.Errorf("score: detailed_consistency_score: bad key %q, expected \"<k>_combine\"", sk)
				}
				names, vals, err := readOrderedFloats(dec)
				if err != nil {
					return fmt.Errorf("score: detailed_consistency_score.%s: %w", sk, err)
				}
				m := map[string]float64{}
				for i, n := range names {
					m[n] = vals[i]
				}
				r.Detailed[k] = m
			}
			if _, err := dec.Token(); err != nil {
				return fmt.Errorf("score: %w", err)
			}
		case key == crossinKey:
			var x crossinExtra
			if err := dec.Decode(&x); err != nil {
				return fmt.Errorf("score: crossin: %w", err)
			}
			r.Benchmark, r.N, r.AccCI = x.Benchmark, x.N, x.AccCI95
			extraLangs = x.Languages
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return fmt.Errorf("score: %s: %w", key, err)
			}
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("score: %w", err)
	}
	if len(extraLangs) > 0 {
		r.Languages = extraLangs
	}
	return nil
}

func expectDelim(dec *json.Decoder, d json.Delim) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if got, ok := t.(json.Delim); !ok || got != d {
		return fmt.Errorf("expected %q, got %v", d, t)
	}
	return nil
}

func readFloat(dec *json.Decoder) (float64, error) {
	t, err := dec.Token()
	if err != nil {
		return 0, err
	}
	n, ok := t.(json.Number)
	if !ok {
		return 0, fmt.Errorf("expected a number, got %v", t)
	}
	return n.Float64()
}

func readOrderedFloats(dec *json.Decoder) ([]string, []float64, error) {
	if err := expectDelim(dec, '{'); err != nil {
		return nil, nil, err
	}
	var names []string
	var vals []float64
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		v, err := readFloat(dec)
		if err != nil {
			return nil, nil, fmt.Errorf("%v: %w", t, err)
		}
		names = append(names, t.(string))
		vals = append(vals, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, err
	}
	return names, vals, nil
}
