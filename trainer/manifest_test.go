package trainer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestManifestRoundTripAndTamper(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"adapter/adapter_config.json": "{}", "adapter/adapter_model.safetensors": "w", "loss.json": `{"steps":[]}`}
	for p, c := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o777)
		os.WriteFile(filepath.Join(dir, p), []byte(c), 0o666)
	}
	// Not outputs: the log and the checkpoints.
	os.WriteFile(filepath.Join(dir, LogFile), []byte("log"), 0o666)
	os.MkdirAll(filepath.Join(dir, CheckpointDir, "step-1"), 0o777)
	os.WriteFile(filepath.Join(dir, CheckpointDir, "step-1", "state"), []byte("s"), 0o666)
	m, err := WriteManifest(dir, KindTrain, "test", map[string]any{"steps": 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != 3 || !strings.HasPrefix(m.Files["loss.json"], "sha256:") {
		t.Fatalf("manifest files %v", m.Files)
	}
	if _, ok := m.Files[LogFile]; ok {
		t.Fatal("trainer.log listed")
	}
	b1, _ := os.ReadFile(filepath.Join(dir, ManifestFile))
	// Deterministic: writing again gives the same bytes.
	WriteManifest(dir, KindTrain, "test", map[string]any{"steps": 3})
	b2, _ := os.ReadFile(filepath.Join(dir, ManifestFile))
	if string(b1) != string(b2) {
		t.Fatal("manifest not deterministic")
	}
	if _, err := ReadManifest(dir); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "loss.json"), []byte("changed"), 0o666)
	if _, err := ReadManifest(dir); err == nil || !strings.Contains(err.Error(), "loss.json") {
		t.Fatalf("tampered output not detected: %v", err)
	}
}
