package embedded

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/crossin-lab/crossin/engine/model"
	"github.com/crossin-lab/crossin/engine/train"
	"github.com/crossin-lab/crossin/schema/check"
)

// TestCapabilitiesTable keeps check.EmbeddedCannotTrain (what `crossin
// validate` refuses on the embedded backend) equal to what this trainer
// actually refuses: a small model of every family, configured as the
// paper's checkpoints are (Mistral with its 4096-token sliding window), is
// accepted exactly when the table does not list its family. When the
// engine learns a family, delete its entry from the table.
func TestCapabilitiesTable(t *testing.T) {
	for _, family := range []string{"llama", "mistral", "qwen2", "gemma"} {
		t.Run(family, func(t *testing.T) {
			if _, err := os.Stat(repoTokenizer); err != nil {
				t.Skipf("no tokenizer at %s: %v", repoTokenizer, err)
			}
			dir := filepath.Join(t.TempDir(), family)
			if err := model.Init(dir, model.InitConfig{Arch: family, Layers: 1, Hidden: 16, Heads: 2, Intermediate: 32, Tokenizer: repoTokenizer, Seed: 1, MaxPositions: 64}); err != nil {
				t.Fatal(err)
			}
			if family == "mistral" {
				setConfig(t, dir, "sliding_window", 4096)
			}
			m, err := model.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			_, trainErr := train.FromModel(m)
			why, listed := check.EmbeddedCannotTrain[family]
			switch {
			case listed && trainErr == nil:
				t.Errorf("the embedded trainer now trains %s models; delete %q from check.EmbeddedCannotTrain (it says: %s)", family, family, why)
			case !listed && trainErr != nil:
				t.Errorf("the embedded trainer refuses %s models (%v); add %q to check.EmbeddedCannotTrain so crossin validate says so", family, trainErr, family)
			}
		})
	}
}

func setConfig(t *testing.T, dir, key string, v any) {
	t.Helper()
	p := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg[key] = v
	if b, err = json.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
