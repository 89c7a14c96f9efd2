package tokenizer

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/dlclark/regexp2"
)

var fastPatterns = []struct {
	name, pat string
}{
	{"gpt2", gpt2Pattern},
	{"qwen", qwenPattern},
	{"llama3", llama3Pattern},
}

// fastAlphabet mixes the character classes the regexes distinguish:
// ASCII and non-ASCII letters, digits of several scripts, every kind of
// whitespace, CR/LF, punctuation, apostrophes with contraction letters,
// combining marks, emoji.
var fastAlphabet = []rune("aZsStTrReEvVmMlLdDxé中ế09٣²  \t\t\n\n\r\u00a0\u3000\u2028''.,!?()-_\u0301\u0300🙂👍\u200b#")

func randText(r *rand.Rand, n int) string {
	var b strings.Builder
	for range n {
		b.WriteRune(fastAlphabet[r.IntN(len(fastAlphabet))])
	}
	return b.String()
}

// checkFast compares a hand-written matcher with regexp2 on s. U+017F is
// left out: Oniguruma (Hugging Face) folds it to s under (?i), regexp2 does
// not, and the fast matcher follows Oniguruma.
func checkFast(t *testing.T, name, pat string, s string) {
	t.Helper()
	re := regexp2.MustCompile(pat, regexp2.None)
	want := regexMatches(re, s)
	got := fastSplitter(&pat)(s, nil)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s on %q:\n got %v\nwant %v", name, s, got, want)
	}
}

func TestFastSplittersMatchRegexp2(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	fixed := []string{"", " ", "  ", "a", "'s", "'S", "'LL", "'Re", "'x", "it's", "  hello  world  ",
		"tab\tand\nnewline\r\nwindows", "a \n\n b", " \n ", "\n \n", "12345 678", "x²³", "### Response:\n(A) responsible",
		"  leading and trailing  ", "emoji 🙂👍🏽 and flags 🇻🇳", "e\u0301 a\u0300b", "\u00a0\u00a0x", " .\r\n\r\n", "''s", "' s"}
	for _, fp := range fastPatterns {
		for _, s := range fixed {
			checkFast(t, fp.name, fp.pat, s)
		}
		for range 3000 {
			checkFast(t, fp.name, fp.pat, randText(r, r.IntN(24)))
		}
	}
}

func TestFastContractionLongS(t *testing.T) {
	pat := qwenPattern
	got := fastSplitter(&pat)("it'ſ", nil)
	want := [][2]int{{0, 2}, {2, 5}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
}

func FuzzFastSplitters(f *testing.F) {
	f.Add("Hello, world! It's 2024.\n\n  ok")
	f.Add("数字 12345 和 3.14159")
	f.Fuzz(func(t *testing.T, s string) {
		s = sanitizeUTF8(strings.ReplaceAll(s, "ſ", "s"))
		for _, fp := range fastPatterns {
			checkFast(t, fp.name, fp.pat, s)
		}
	})
}
