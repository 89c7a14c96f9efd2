package embedded

import "testing"

// TestTemplateNames: the embedded trainer accepts every reference template
// (paper.cue gives Llama-2 and Mistral "llama") and names the choices when
// a template does not exist.
func TestTemplateNames(t *testing.T) {
	for _, name := range []string{"", "alpaca", "llama", "gemma", "plain"} {
		if _, err := template(name); err != nil {
			t.Errorf("template(%q): %v", name, err)
		}
	}
	_, err := template("chatml")
	want := `prompt template "chatml" does not exist; use one of alpaca, gemma, llama`
	if err == nil || err.Error() != want {
		t.Errorf("template(chatml) = %v, want %q", err, want)
	}
}
