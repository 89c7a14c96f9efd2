package bench

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// formatPositional is Python's "...{}...".format(args...) for templates
// whose only fields are empty {} slots.
func formatPositional(t *testing.T, f string, args ...string) string {
	t.Helper()
	parts := strings.Split(f, "{}")
	if len(parts)-1 != len(args) {
		t.Fatalf("template %q has %d slots, got %d values", f, len(parts)-1, len(args))
	}
	var sb strings.Builder
	for i, p := range parts {
		sb.WriteString(p)
		if i < len(args) {
			sb.WriteString(args[i])
		}
	}
	return sb.String()
}

// TestCrossInPromptMatchesFork renders the crossin format for each task
// and compares it with the fork's p1 template filled as src/dataset.py
// fills it (choices joined with "\n").
func TestCrossInPromptMatchesFork(t *testing.T) {
	b, err := os.ReadFile("testdata/my_seaeval/p1.json")
	if err != nil {
		t.Fatal(err)
	}
	var p1 map[string]string
	if err := json.Unmarshal(b, &p1); err != nil {
		t.Fatal(err)
	}
	choices := []string{"(A) 12", "(B) {x}", "(C) 甲", "(D) none"}
	items := []struct {
		name string
		it   Item
	}{
		{"with context", Item{Context: "Tom has 3 apples.\nHe eats one.", Question: "How many are left?", Choices: choices}},
		{"empty context", Item{Question: "¿Cuántas quedan?", Choices: choices}},
	}
	for _, task := range []string{"cross_mmlu", "cross_logiqa", "cross_xquad"} {
		for _, tc := range items {
			t.Run(task+"/"+tc.name, func(t *testing.T) {
				joined := strings.Join(tc.it.Choices, "\n")
				var want string
				if task == "cross_mmlu" {
					want = formatPositional(t, p1[task], tc.it.Question, joined)
				} else {
					want = formatPositional(t, p1[task], tc.it.Context, tc.it.Question, joined)
				}
				got, err := Prompt(task, &tc.it, PromptOptions{Format: FormatCrossIn})
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("Prompt:\n got %q\nwant %q", got, want)
				}
			})
		}
	}
}
