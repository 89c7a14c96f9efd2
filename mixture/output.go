package mixture

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/crossin-lab/crossin/atomicfile"
)

// Encode returns the JSONL encoding of records: one object a line, fields in
// the order id, mode, src_lang, tgt_lang, instruction, input, output,
// source_ids; no HTML escaping. This encoding is what Hash covers. It is
// byte-for-byte what encoding/json's Encoder with SetEscapeHTML(false)
// writes (tested), done without reflection because encoding dominated the
// build time after loading.
func Encode(records []Record) []byte {
	size := 0
	for i := range records {
		r := &records[i]
		size += 120 + len(r.ID) + len(r.Instruction) + len(r.Input) + len(r.Output)
		for _, s := range r.SourceIDs {
			size += len(s) + 3
		}
	}
	buf := make([]byte, 0, size+size/16)
	for i := range records {
		buf = AppendRecord(buf, &records[i])
	}
	return buf
}

// AppendRecord appends one record's JSONL line to dst.
func AppendRecord(dst []byte, r *Record) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, r.ID)
	dst = append(dst, `,"mode":`...)
	dst = appendString(dst, string(r.Mode))
	dst = append(dst, `,"src_lang":`...)
	dst = appendString(dst, r.SrcLang)
	dst = append(dst, `,"tgt_lang":`...)
	dst = appendString(dst, r.TgtLang)
	dst = append(dst, `,"instruction":`...)
	dst = appendString(dst, r.Instruction)
	dst = append(dst, `,"input":`...)
	dst = appendString(dst, r.Input)
	dst = append(dst, `,"output":`...)
	dst = appendString(dst, r.Output)
	dst = append(dst, `,"source_ids":[`...)
	for i, s := range r.SourceIDs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, s)
	}
	return append(dst, "]}\n"...)
}

const hexDigits = "0123456789abcdef"

// appendString quotes s as encoding/json does without HTML escaping:
// '"' and '\\' escaped, control characters as \b \f \n \r \t or \u00XX,
// invalid UTF-8 as \ufffd, and U+2028/U+2029 escaped.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	valid := utf8.ValidString(s)
	for i := 0; i < len(s); {
		b := s[i]
		if b >= utf8.RuneSelf && valid {
			// Valid UTF-8: only U+2028 and U+2029 (E2 80 A8/A9) need escaping.
			if b == 0xE2 && i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xA8 || s[i+2] == 0xA9) {
				dst = append(dst, s[start:i]...)
				dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[s[i+2]&0xF])
				i += 3
				start = i
				continue
			}
			i++
			continue
		}
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func hashBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// HashRecords returns the content hash of records (as Result.Hash).
func HashRecords(records []Record) string { return hashBytes(Encode(records)) }

// WriteFile writes the mixture to path atomically: a temp file in the same
// directory, synced and renamed, so a failed build never leaves a partial file.
func (r *Result) WriteFile(path string) error {
	return atomicfile.Write(path, Encode(r.Records), 0o644)
}

// ReadJSONL reads a mixture file written by WriteFile. Errors name file:line.
func ReadJSONL(path string) ([]Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Record
	for i, line := range bytes.Split(data, []byte{'\n'}) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r Record
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("%s:%d: not a mixture record (want {id, mode, src_lang, tgt_lang, instruction, input, output, source_ids}): %v", path, i+1, err)
		}
		if r.ID == "" || r.Mode == "" || r.SrcLang == "" || r.TgtLang == "" {
			return nil, fmt.Errorf("%s:%d: mixture record lacks id, mode, src_lang or tgt_lang", path, i+1)
		}
		out = append(out, r)
	}
	return out, nil
}

// Stats summarises a mixture.
type Stats struct {
	Records int    `json:"records"`
	Hash    string `json:"hash"`
	// Modes are in canonical order (base, en2x, x2en, x2x, trans).
	Modes []ModeStats `json:"modes"`
	// Pairs are sorted by mode, then source and target language.
	Pairs []PairStats `json:"pairs"`
}

// ModeStats counts one mode with its length quantiles, in characters
// (Unicode code points) of instruction+input (prompt) and of output.
type ModeStats struct {
	Mode  Mode `json:"mode"`
	Count int  `json:"count"`
	// UniqueSources is the number of distinct source items used.
	UniqueSources int       `json:"unique_sources"`
	Prompt        Quantiles `json:"prompt_chars"`
	Output        Quantiles `json:"output_chars"`
}

// Quantiles are nearest-rank quantiles of a length distribution.
type Quantiles struct {
	Min int `json:"min"`
	P50 int `json:"p50"`
	P90 int `json:"p90"`
	P99 int `json:"p99"`
	Max int `json:"max"`
}

// PairStats counts the records of one mode and language pair.
type PairStats struct {
	Mode    Mode   `json:"mode"`
	SrcLang string `json:"src_lang"`
	TgtLang string `json:"tgt_lang"`
	Count   int    `json:"count"`
}

// ComputeStats summarises records (Hash is left to the caller).
func ComputeStats(records []Record) Stats {
	st := Stats{Records: len(records), Modes: []ModeStats{}, Pairs: []PairStats{}}
	type acc struct {
		prompt, output []int
		sources        map[string]bool
	}
	byMode := map[Mode]*acc{}
	pairs := map[PairStats]int{}
	for i := range records {
		r := &records[i]
		a := byMode[r.Mode]
		if a == nil {
			a = &acc{sources: map[string]bool{}}
			byMode[r.Mode] = a
		}
		a.prompt = append(a.prompt, utf8.RuneCountInString(r.Instruction)+utf8.RuneCountInString(r.Input))
		a.output = append(a.output, utf8.RuneCountInString(r.Output))
		if len(r.SourceIDs) > 0 {
			// The item id after "lang:"; the same across a record's languages.
			id := r.SourceIDs[0]
			if i := strings.IndexByte(id, ':'); i >= 0 {
				id = id[i+1:]
			}
			a.sources[id] = true
		}
		pairs[PairStats{Mode: r.Mode, SrcLang: r.SrcLang, TgtLang: r.TgtLang}]++
	}
	order := map[Mode]int{}
	for i, m := range Modes {
		order[m] = i
	}
	var modes []Mode
	for m := range byMode {
		modes = append(modes, m)
	}
	rank := func(m Mode) int {
		if o, ok := order[m]; ok {
			return o
		}
		return len(Modes)
	}
	sort.Slice(modes, func(i, j int) bool {
		if rank(modes[i]) != rank(modes[j]) {
			return rank(modes[i]) < rank(modes[j])
		}
		return modes[i] < modes[j]
	})
	for _, m := range modes {
		a := byMode[m]
		st.Modes = append(st.Modes, ModeStats{Mode: m, Count: len(a.prompt), UniqueSources: len(a.sources), Prompt: quantiles(a.prompt), Output: quantiles(a.output)})
	}
	for p, n := range pairs {
		p.Count = n
		st.Pairs = append(st.Pairs, p)
	}
	sort.Slice(st.Pairs, func(i, j int) bool {
		a, b := st.Pairs[i], st.Pairs[j]
		if rank(a.Mode) != rank(b.Mode) {
			return rank(a.Mode) < rank(b.Mode)
		}
		if a.Mode != b.Mode {
			return a.Mode < b.Mode
		}
		if a.SrcLang != b.SrcLang {
			return a.SrcLang < b.SrcLang
		}
		return a.TgtLang < b.TgtLang
	})
	return st
}

func quantiles(xs []int) Quantiles {
	if len(xs) == 0 {
		return Quantiles{}
	}
	s := append([]int(nil), xs...)
	sort.Ints(s)
	q := func(p float64) int {
		// nearest rank: the smallest value with at least p of the data at or below it
		k := int(float64(len(s))*p+0.999999999) - 1
		if k < 0 {
			k = 0
		}
		if k >= len(s) {
			k = len(s) - 1
		}
		return s[k]
	}
	return Quantiles{Min: s[0], P50: q(0.5), P90: q(0.9), P99: q(0.99), Max: s[len(s)-1]}
}

// WriteTable prints the stats as aligned text tables.
func (st Stats) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "records: %d\n", st.Records)
	if st.Hash != "" {
		fmt.Fprintf(w, "hash:    %s\n", st.Hash)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "mode\tcount\tunique\tprompt p50\tp90\tp99\tmax\toutput p50\tp90\tp99\tmax\t")
	for _, m := range st.Modes {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", m.Mode, m.Count, m.UniqueSources,
			m.Prompt.P50, m.Prompt.P90, m.Prompt.P99, m.Prompt.Max, m.Output.P50, m.Output.P90, m.Output.P99, m.Output.Max)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tsrc\ttgt\tcount\t")
	for _, p := range st.Pairs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t\n", p.Mode, p.SrcLang, p.TgtLang, p.Count)
	}
	return tw.Flush()
}
