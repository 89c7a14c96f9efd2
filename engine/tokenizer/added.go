package tokenizer

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// AddedToken is an entry of tokenizer.json's "added_tokens": a token matched
// in the raw (or normalized) text before the model runs.
type AddedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// matcher finds added tokens leftmost-longest, as the Aho-Corasick automaton
// Hugging Face builds with MatchKind::LeftmostLongest does.
type matcher struct {
	first  [256]bool
	byByte [256][]int // indexes into pats, longest first
	pats   []string
	toks   []*AddedToken
}

func newMatcher(pats []string, toks []*AddedToken) *matcher {
	m := &matcher{pats: pats, toks: toks}
	for i, p := range pats {
		if p == "" {
			continue
		}
		m.first[p[0]] = true
		m.byByte[p[0]] = append(m.byByte[p[0]], i)
	}
	for b := range m.byByte {
		l := m.byByte[b]
		sort.SliceStable(l, func(x, y int) bool { return len(pats[l[x]]) > len(pats[l[y]]) })
	}
	return m
}

func (m *matcher) empty() bool { return m == nil || len(m.pats) == 0 }

// find returns the leftmost-longest match in s at or after from.
func (m *matcher) find(s string, from int) (start, end, idx int) {
	for i := from; i < len(s); i++ {
		if !m.first[s[i]] {
			continue
		}
		for _, k := range m.byByte[s[i]] {
			if strings.HasPrefix(s[i:], m.pats[k]) {
				return i, i + len(m.pats[k]), k
			}
		}
	}
	return -1, -1, -1
}

// seg is a piece of a sentence: either text or an added token.
type seg struct {
	i, j int
	tok  *AddedToken
}

// splitAdded cuts s at the added tokens m finds, honouring single_word,
// lstrip and rstrip like AddedVocabulary::find_matches.
func (m *matcher) splitAdded(s string) []seg {
	var out []seg
	off := 0
	for from := 0; from < len(s); {
		st, en, k := m.find(s, from)
		if k < 0 {
			break
		}
		from = en
		t := m.toks[k]
		if t.SingleWord {
			startOK := st == 0 || !endsWithWord(s[:st])
			stopOK := en == len(s) || !startsWithWord(s[en:])
			if !startOK || !stopOK {
				continue // the automaton has consumed the match all the same
			}
		}
		if t.LStrip {
			ns := len(strings.TrimRightFunc(s[:st], unicode.IsSpace))
			st = max(ns, off)
		}
		if t.RStrip {
			en += len(s[en:]) - len(strings.TrimLeftFunc(s[en:], unicode.IsSpace))
			from = en
		}
		if off < st {
			out = append(out, seg{i: off, j: st})
		}
		out = append(out, seg{i: st, j: en, tok: t})
		off = en
	}
	if off < len(s) {
		out = append(out, seg{i: off, j: len(s)})
	}
	return out
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) || r == '_' }

func endsWithWord(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return s != "" && isWordRune(r)
}

func startsWithWord(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return s != "" && isWordRune(r)
}
