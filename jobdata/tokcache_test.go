package jobdata

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestLoadTokenizerMemo checks that a model directory's tokenizer is
// parsed once while its files are unchanged, and again once they change.
func TestLoadTokenizerMemo(t *testing.T) {
	b, err := os.ReadFile(tokPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tj := filepath.Join(dir, "tokenizer.json")
	c, err := os.ReadFile(filepath.Join(filepath.Dir(tokPath), "tokenizer_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tj, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), c, 0o644); err != nil {
		t.Fatal(err)
	}
	t1, eos1, err := loadTokenizer(dir)
	if err != nil {
		t.Fatal(err)
	}
	t2, eos2, err := loadTokenizer(dir)
	if err != nil {
		t.Fatal(err)
	}
	if t1 != t2 || eos1 != eos2 {
		t.Fatalf("unchanged directory: loaded again (%p, %p)", t1, t2)
	}
	// A changed file is read again.
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(tj, later, later); err != nil {
		t.Fatal(err)
	}
	t3, _, err := loadTokenizer(dir)
	if err != nil {
		t.Fatal(err)
	}
	if t3 == t1 {
		t.Fatal("changed tokenizer.json: the memoized tokenizer was returned")
	}
	// A broken file is an error, not the last good tokenizer.
	if err := os.WriteFile(tj, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadTokenizer(dir); err == nil {
		t.Fatal("broken tokenizer.json: no error")
	}
}
