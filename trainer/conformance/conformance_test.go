package conformance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/trainer"
)

// TestCheckLayout feeds the layout checker each kind of broken output.
func TestCheckLayout(t *testing.T) {
	good := func(t *testing.T) string {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "adapter"), 0o777)
		os.WriteFile(filepath.Join(dir, "adapter", "adapter_config.json"), []byte("{}"), 0o666)
		os.WriteFile(filepath.Join(dir, "adapter", "adapter_model.safetensors"), []byte("w"), 0o666)
		os.WriteFile(filepath.Join(dir, "loss.json"), []byte(`{"steps":[{"step":1,"loss":2.5,"lr":0.1,"tokens":3}]}`), 0o666)
		if _, err := trainer.WriteManifest(dir, trainer.KindTrain, "t", nil); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	tests := []struct {
		name   string
		damage func(dir string)
		want   string
	}{
		{"ok", func(string) {}, ""},
		{"no manifest", func(d string) { os.Remove(filepath.Join(d, "manifest.json")) }, "no manifest"},
		{"hash mismatch", func(d string) { os.WriteFile(filepath.Join(d, "loss.json"), []byte(`{"steps":[]}`), 0o666) }, "hashes to"},
		{"unlisted file", func(d string) { os.WriteFile(filepath.Join(d, "extra.bin"), nil, 0o666) }, "not listed"},
		{"listed file missing", func(d string) { os.Remove(filepath.Join(d, "adapter", "adapter_model.safetensors")) }, "does not exist"},
		{"log and checkpoints are fine", func(d string) {
			os.WriteFile(filepath.Join(d, "trainer.log"), nil, 0o666)
			os.MkdirAll(filepath.Join(d, "checkpoints", "x"), 0o777)
			os.WriteFile(filepath.Join(d, "checkpoints", "x", "y"), nil, 0o666)
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := good(t)
			tt.damage(d)
			_, err := CheckLayout(d, trainer.KindTrain)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
	// Bad loss curves.
	d := good(t)
	os.WriteFile(filepath.Join(d, "loss.json"), []byte(`{"steps":[{"step":2,"loss":1,"lr":0,"tokens":0}]}`), 0o666)
	trainer.WriteManifest(d, trainer.KindTrain, "t", nil)
	if _, err := CheckLayout(d, trainer.KindTrain); err == nil || !strings.Contains(err.Error(), "want 1") {
		t.Fatalf("bad step numbering accepted: %v", err)
	}
	// Wrong kind.
	if _, err := CheckLayout(good(t), trainer.KindEval); err == nil {
		t.Fatal("train output accepted as eval")
	}
}
