package model

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// TestInitGolden pins the bytes Init writes for a fixed configuration, so a
// change of random stream, tensor order or file layout is noticed (cached
// quickstart models are keyed by these flags). Run with -update to accept.
func TestInitGolden(t *testing.T) {
	dir := t.TempDir()
	ic := InitConfig{Layers: 2, Hidden: 32, Heads: 4, KVHeads: 2, Intermediate: 64, Vocab: 512, Seed: 42}
	if err := Init(dir, ic); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range []string{"config.json", "generation_config.json", "model.safetensors"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%x  %s\n", sha256.Sum256(data), f)
	}
	golden := filepath.Join("testdata", "init.sha256")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if b.String() != string(want) {
		t.Fatalf("Init output changed:\n%s\nwant:\n%s(run go test -update if intended)", b.String(), want)
	}
}
