package bench

import (
	"fmt"
	"sort"
	"strings"
)

// languages maps ISO 639-1 codes (used in crossin's data) to the language
// names SeaEval uses as keys in its benchmark and score files. The first
// seven are SeaEval's; the rest are the other XQuAD languages, named the
// same way so that a Cross-XQuAD file can carry any of them.
var languages = []struct{ code, name string }{
	{"en", "English"},
	{"zh", "Chinese"},
	{"vi", "Vietnamese"},
	{"es", "Spanish"},
	{"id", "Indonesian"},
	{"ms", "Malay"},
	{"tl", "Filipino"},
	{"ar", "Arabic"},
	{"de", "German"},
	{"el", "Greek"},
	{"hi", "Hindi"},
	{"ro", "Romanian"},
	{"ru", "Russian"},
	{"th", "Thai"},
	{"tr", "Turkish"},
}

// SeaEvalLanguages are the seven languages of Cross-MMLU and Cross-LogiQA in
// the order SeaEval lists them.
var SeaEvalLanguages = []string{"English", "Chinese", "Vietnamese", "Spanish", "Indonesian", "Malay", "Filipino"}

// CrossInLanguages are the four languages the CrossIn paper reports.
var CrossInLanguages = []string{"English", "Chinese", "Vietnamese", "Spanish"}

// LanguageName returns SeaEval's name for a language given as an ISO 639-1
// code ("zh"), a SeaEval name ("Chinese", any case) or "fil" for Filipino.
func LanguageName(s string) (string, error) {
	t := strings.TrimSpace(s)
	if strings.EqualFold(t, "fil") {
		t = "tl"
	}
	for _, l := range languages {
		if strings.EqualFold(t, l.code) || strings.EqualFold(t, l.name) {
			return l.name, nil
		}
	}
	return "", fmt.Errorf("unknown language %q; use an ISO 639-1 code or a SeaEval name (%s)", s, knownLanguages())
}

// LanguageCode returns the ISO 639-1 code of a SeaEval language name (or of
// a code, unchanged).
func LanguageCode(s string) (string, error) {
	name, err := LanguageName(s)
	if err != nil {
		return "", err
	}
	for _, l := range languages {
		if l.name == name {
			return l.code, nil
		}
	}
	return "", fmt.Errorf("unknown language %q", s)
}

// LanguageNames converts a list of codes or names (as given on a command
// line: "en,zh" or "English,Chinese") to SeaEval names, rejecting repeats.
func LanguageNames(list []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, s := range list {
		if strings.TrimSpace(s) == "" {
			continue
		}
		n, err := LanguageName(s)
		if err != nil {
			return nil, err
		}
		if seen[n] {
			return nil, fmt.Errorf("language %s is listed twice", n)
		}
		seen[n] = true
		out = append(out, n)
	}
	return out, nil
}

func knownLanguages() string {
	var s []string
	for _, l := range languages {
		s = append(s, l.code+"="+l.name)
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}
