package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"
)

// Extraction is how a free-text model output was mapped to an option.
type Extraction struct {
	// Index is the chosen option (0 for "(A)").
	Index int
	// Choice is the chosen option string, Choices[Index].
	Choice string
	// Method says which rule decided: MethodFirstStage, MethodSecondStage,
	// MethodEmpty or MethodNoMatch.
	Method string
	// Random is true when a seeded random draw decided: an empty output,
	// an output that matched nothing, or a tie between the two most voted
	// options.
	Random bool
}

// Extraction methods.
const (
	// MethodFirstStage: a sentence contains "(B)"/"(b)" or a full option
	// string (as is, lower-cased or upper-cased).
	MethodFirstStage = "first-stage"
	// MethodSecondStage: no first-stage match anywhere; a sentence, with
	// surrounding punctuation stripped, contains a bare letter (" B ",
	// "B)", "(B") or the option text without its "(B) " prefix.
	MethodSecondStage = "second-stage"
	// MethodEmpty: the output is blank; a seeded random option.
	MethodEmpty = "empty"
	// MethodNoMatch: nothing matched; a seeded random option.
	MethodNoMatch = "no-match"
)

// Extract maps a model's free-text output to one of choices the way
// SeaEval's heuristic aligner (TiGEr-Eval, multichoice_align.heuristic_align)
// does, so that scores computed here equal SeaEval's. Where SeaEval draws at
// random (blank output, no match, a tie in the vote) Extract draws from a PCG
// seeded with seed (0 if none is given), so results are reproducible.
//
// The rules, reimplemented from SeaEval's definition:
//
//  1. Chinese punctuation in the output is replaced by its ASCII
//     counterpart, character for character (full-width comma, stop,
//     quotes, brackets and parentheses), and the output is
//     cut into sentences: maximal runs of characters other than . ! ? 。,
//     each with one following terminator.
//  2. First stage. Keys per option X with text c: c, lower(c), upper(c),
//     "(X)" and "(x)". In every sentence the keys contained in it (and then
//     those contained in its lower-cased form) are collected and the
//     longest one, first found among equals, is the sentence's vote. Keys
//     are compared by length in characters (not bytes), longest first.
//  3. If any sentence voted, the option with most votes wins; the first
//     seen wins a count tie against later ones, except that a tie between
//     the two most voted options is broken by a random draw between them.
//  4. Second stage, only when no sentence voted in the first stage. Keys
//     per option: " x " for letters B-J, the marker for " A " for A
//     (only an upper-case stand-alone "A", since "a" is an English word),
//     and the lower-cased option text without its 4-character "(X) "
//     prefix, cut at its first sentence terminator; keys of one character
//     are dropped. Each sentence is stripped of surrounding punctuation
//     and spaces, padded with one space on each side, lower-cased, and
//     votes for the first key (longest first) it contains. Votes are
//     counted as in 3.
//  5. Nothing matched: a random option.
//
// Lower- and upper-casing use full Unicode case mapping, as Python does.
// With no choices, Index is -1.
func Extract(output string, choices []string, seed ...uint64) Extraction {
	var s uint64
	if len(seed) > 0 {
		s = seed[0]
	}
	rng := rand.New(rand.NewPCG(s, 0x9e3779b97f4a7c15))
	pick := func(idx int, method string, random bool) Extraction {
		return Extraction{Index: idx, Choice: choices[idx], Method: method, Random: random}
	}
	if len(choices) == 0 {
		return Extraction{Index: -1, Method: MethodNoMatch}
	}
	if strings.TrimFunc(output, pyIsSpace) == "" {
		return pick(rng.IntN(len(choices)), MethodEmpty, true)
	}
	lower, upper := newCaser(false), newCaser(true)

	// choiceIndex maps an option string to its first index; votes are
	// counted per option string, as SeaEval counts them.
	choiceIndex := map[string]int{}
	for i, c := range choices {
		if _, ok := choiceIndex[c]; !ok {
			choiceIndex[c] = i
		}
	}

	// First-stage keys.
	first := newOrdered()
	for i, c := range choices {
		first.set(c, c)
		first.set(lower.String(c), c)
		first.set(upper.String(c), c)
		// SeaEval supports ten lettered options; later ones match by
		// text only.
		if i < len(letters) {
			l := letters[i : i+1]
			first.set("("+l+")", c)
			first.set("("+strings.ToLower(l)+")", c)
		}
	}
	first.sortByLengthDesc()

	// Second-stage keys.
	second0 := newOrdered()
	for i, c := range choices {
		switch {
		case i == 0:
			second0.set(markerA, c)
		case i < len(letters):
			second0.set(" "+strings.ToLower(letters[i:i+1])+" ", c)
		}
		second0.set(lower.String(dropRunes(c, 4)), c)
	}
	second0.sortByLengthDesc()
	second := newOrdered()
	for _, k := range second0.keys {
		second.set(segment(k)[0], second0.val[k])
	}
	var secondKeys []string
	for _, k := range second.keys {
		if utf8.RuneCountInString(k) > 1 {
			secondKeys = append(secondKeys, k)
		}
	}

	sentences := segment(zhPunct.Replace(output))

	var votes []string
	for _, sent := range sentences {
		ls := lower.String(sent)
		best, bestLen := "", -1
		for _, pass := range [2]string{sent, ls} {
			for _, k := range first.keys {
				if strings.Contains(pass, k) {
					if n := utf8.RuneCountInString(k); n > bestLen {
						best, bestLen = k, n
					}
				}
			}
		}
		if bestLen >= 0 {
			votes = append(votes, first.val[best])
		}
	}
	if len(votes) > 0 {
		c, random := vote(votes, rng)
		return pick(choiceIndex[c], MethodFirstStage, random)
	}

	for _, sent := range sentences {
		t := " " + strings.Trim(sent, stripSet) + " "
		t = lower.String(strings.ReplaceAll(t, " A ", markerA))
		for _, k := range secondKeys {
			if strings.Contains(t, k) {
				votes = append(votes, second.val[k])
				break
			}
		}
	}
	if len(votes) > 0 {
		c, random := vote(votes, rng)
		return pick(choiceIndex[c], MethodSecondStage, random)
	}
	return pick(rng.IntN(len(choices)), MethodNoMatch, true)
}

// markerA stands for a stand-alone upper-case "A" in the second stage (the
// marker SeaEval uses; it is lower-case, so lower-casing keeps it).
const markerA = " *&^%$asa "

// stripSet is the set of characters stripped from both ends of a sentence
// in the second stage (SeaEval's set, including the backslash).
const stripSet = "(。$,|！\\!.？?)，；：…—·《》“”‘’{}[]（）、/\n\t\r\v\f "

// zhPunct replaces Chinese punctuation with ASCII, one character for one.
var zhPunct = strings.NewReplacer(
	"，", ",", "。", ".", "“", "\"", "”", "\"", "‘", "'", "’", "'",
	"！", "!", "？", "?", "【", "[", "】", "]", "《", "<", "》", ">", "（", "(", "）", ")",
)

// segment cuts text into sentences: maximal runs of characters that are not
// one of . ! ? 。, each followed by at most one of them. Terminators that do
// not follow such a run are dropped. A text with no sentence yields SeaEval's
// placeholder "nothing here actually", which can match nothing real.
func segment(text string) []string {
	var out []string
	i := 0
	for i < len(text) {
		r, n := utf8.DecodeRuneInString(text[i:])
		if isTerminator(r) {
			i += n
			continue
		}
		j := i
		for j < len(text) {
			r, n := utf8.DecodeRuneInString(text[j:])
			if isTerminator(r) {
				break
			}
			j += n
		}
		if j < len(text) {
			_, n := utf8.DecodeRuneInString(text[j:])
			j += n
		}
		out = append(out, text[i:j])
		i = j
	}
	if len(out) == 0 {
		out = append(out, "nothing here actually")
	}
	return out
}

func isTerminator(r rune) bool { return r == '.' || r == '!' || r == '?' || r == '。' }

// dropRunes returns s without its first n characters.
func dropRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[i:]
		}
		n--
	}
	return ""
}

// pyIsSpace reports whether r is whitespace as Python's str.isspace sees it
// (Unicode White_Space plus the ASCII file, group, record and unit
// separators).
func pyIsSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0x1c, 0x1d, 0x1e, 0x1f, 0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

// vote returns the most voted option: counts descending, first seen first
// among equal counts; a tie between the top two is broken by rng.
func vote(votes []string, rng *rand.Rand) (string, bool) {
	count := map[string]int{}
	var order []string
	for _, v := range votes {
		if count[v] == 0 {
			order = append(order, v)
		}
		count[v]++
	}
	sort.SliceStable(order, func(i, j int) bool { return count[order[i]] > count[order[j]] })
	if len(order) >= 2 && count[order[0]] == count[order[1]] {
		return order[rng.IntN(2)], true
	}
	return order[0], false
}

// ordered is an insertion-ordered string map: re-setting a key keeps its
// position and replaces its value, as a Python dict does.
type ordered struct {
	keys []string
	val  map[string]string
}

func newOrdered() *ordered { return &ordered{val: map[string]string{}} }

func (o *ordered) set(k, v string) {
	if _, ok := o.val[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.val[k] = v
}

// sortByLengthDesc orders keys by length in characters, longest first,
// keeping insertion order among equals.
func (o *ordered) sortByLengthDesc() {
	n := make(map[string]int, len(o.keys))
	for _, k := range o.keys {
		n[k] = utf8.RuneCountInString(k)
	}
	sort.SliceStable(o.keys, func(i, j int) bool { return n[o.keys[i]] > n[o.keys[j]] })
}

// caser lower- or upper-cases with Unicode's full case mappings (as Python's
// str.lower and str.upper do), taking a fast path for ASCII text, where the
// full mappings and the simple ones agree.
type caser struct {
	c     cases.Caser
	upper bool
}

func newCaser(upper bool) *caser {
	if upper {
		return &caser{c: cases.Upper(language.Und), upper: true}
	}
	return &caser{c: cases.Lower(language.Und)}
}

func (c *caser) String(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return c.c.String(s)
		}
	}
	if c.upper {
		return strings.ToUpper(s)
	}
	return strings.ToLower(s)
}

// LogLikMode selects how per-option log-likelihoods are compared.
type LogLikMode int

const (
	// LogLikSum compares the summed log-likelihood of each option.
	LogLikSum LogLikMode = iota
	// LogLikPerToken divides each option's log-likelihood by its number of
	// tokens, so that longer options are not penalised for their length.
	LogLikPerToken
)

// PickLogLik returns the option with the highest log-likelihood (summed or
// per token). Ties go to the lowest index, so the choice is deterministic.
func PickLogLik(scores []float64, ntokens []int, mode LogLikMode) (int, error) {
	if len(scores) == 0 {
		return -1, fmt.Errorf("no option scores")
	}
	if mode == LogLikPerToken && len(ntokens) != len(scores) {
		return -1, fmt.Errorf("per-token log-likelihood needs a token count per option: %d scores, %d counts", len(scores), len(ntokens))
	}
	best, bestV := -1, math.Inf(-1)
	for i, s := range scores {
		if math.IsNaN(s) {
			return -1, fmt.Errorf("option %s: log-likelihood is NaN", Letter(i))
		}
		v := s
		if mode == LogLikPerToken {
			if ntokens[i] <= 0 {
				return -1, fmt.Errorf("option %s: token count %d must be positive", Letter(i), ntokens[i])
			}
			v = s / float64(ntokens[i])
		}
		if best < 0 || v > bestV {
			best, bestV = i, v
		}
	}
	return best, nil
}
