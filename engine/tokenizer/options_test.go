package tokenizer

import (
	"os"
	"path/filepath"
	"testing"
)

// TestConfigOptions checks where tokenizer_config.json comes from: beside
// the tokenizer by default, from WithConfigFile when given (a missing one
// is then an error), and nowhere with WithoutConfig.
func TestConfigOptions(t *testing.T) {
	dir := filepath.Join("..", "..", "experiments", "assets", "tokenizer")
	tok := filepath.Join(dir, "tokenizer.json")
	cfg := filepath.Join(dir, "tokenizer_config.json")
	if _, err := os.Stat(cfg); err != nil {
		t.Fatalf("the repository's tokenizer config: %v", err)
	}
	def, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !def.cfg.Found {
		t.Fatal("LoadDir did not read the tokenizer_config.json beside tokenizer.json")
	}
	// A copy of tokenizer.json alone: the config only comes with WithConfigFile.
	alone := filepath.Join(t.TempDir(), "tok.json")
	b, err := os.ReadFile(tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(alone, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := Load(alone); err != nil || got.cfg.Found {
		t.Errorf("Load without a config beside it: err %v", err)
	}
	got, err := Load(alone, WithConfigFile(cfg))
	if err != nil || !got.cfg.Found || got.cfg.Path != cfg {
		t.Errorf("WithConfigFile: err %v", err)
	}
	if _, err := Load(alone, WithConfigFile(filepath.Join(t.TempDir(), "missing.json"))); err == nil {
		t.Error("WithConfigFile of a missing file: no error")
	}
	if got, err := LoadDir(dir, WithoutConfig()); err != nil || got.cfg.Found {
		t.Errorf("WithoutConfig: err %v", err)
	}
}
