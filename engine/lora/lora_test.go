package lora

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/engine/safetensors"
	"github.com/crossin-lab/crossin/internal/sharedtest"
)

const refAdapter = "../../../shared/reference/hf-tiny-llama/tiny-llama-lora-init"

// needRef skips (or fails under CROSSIN_REQUIRE_SHARED=1) without peft's
// reference adapter in ../shared.
func needRef(t *testing.T) {
	t.Helper()
	sharedtest.Path(t, "reference/hf-tiny-llama/tiny-llama-lora-init")
}

// TestPEFTRoundTrip loads peft's own adapter and writes it back: the
// safetensors file must be byte-identical to peft's and the config must
// have exactly peft's fields and values.
func TestPEFTRoundTrip(t *testing.T) {
	needRef(t)
	a, err := Load(refAdapter)
	if err != nil {
		t.Fatal(err)
	}
	if a.Config.R != 8 || a.Config.Alpha != 16 || a.Config.Scale() != 2 || len(a.Pairs) != 14 {
		t.Fatalf("config %+v with %d pairs", a.Config, len(a.Pairs))
	}
	if p := a.Get(1, "down_proj"); p == nil || p.In != 64 || p.Out != 32 {
		t.Fatalf("layer 1 down_proj: %+v", p)
	}
	out := t.TempDir()
	if err := a.Save(out); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(refAdapter, WeightsFile))
	got, _ := os.ReadFile(filepath.Join(out, WeightsFile))
	if !bytes.Equal(got, want) {
		t.Error("adapter_model.safetensors differs from peft's bytes")
	}
	var wc, gc map[string]any
	wb, _ := os.ReadFile(filepath.Join(refAdapter, ConfigFile))
	gb, _ := os.ReadFile(filepath.Join(out, ConfigFile))
	json.Unmarshal(wb, &wc)
	json.Unmarshal(gb, &gc)
	// peft writes target_modules from a set (arbitrary order); compare sorted.
	for _, m := range []map[string]any{wc, gc} {
		var ts []string
		for _, x := range m["target_modules"].([]any) {
			ts = append(ts, x.(string))
		}
		m["target_modules"] = sortedModules(ts)
	}
	if !reflect.DeepEqual(wc, gc) {
		t.Errorf("adapter_config.json differs from peft's:\n%s\nwant\n%s", gb, wb)
	}
}

// TestNewConfigHasPEFTFields checks a freshly written config has every key
// peft's reference file has, and the tensor names peft uses.
func TestNewConfigHasPEFTFields(t *testing.T) {
	needRef(t)
	shapes := func(m string) (int, int) {
		switch m {
		case "gate_proj", "up_proj":
			return 32, 64
		case "down_proj":
			return 64, 32
		case "k_proj", "v_proj":
			return 32, 16
		}
		return 32, 32
	}
	a, err := New(Config{R: 8, Alpha: 16, TargetModules: Modules, InitWeights: false}, 2, shapes, 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := a.Save(dir); err != nil {
		t.Fatal(err)
	}
	var wc, gc map[string]any
	wb, _ := os.ReadFile(filepath.Join(refAdapter, ConfigFile))
	gb, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
	json.Unmarshal(wb, &wc)
	json.Unmarshal(gb, &gc)
	for k := range wc {
		if _, ok := gc[k]; !ok {
			t.Errorf("written config lacks peft field %q", k)
		}
	}
	rf, err := safetensors.Open(filepath.Join(refAdapter, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer rf.Close()
	gf, err := safetensors.Open(filepath.Join(dir, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer gf.Close()
	if !reflect.DeepEqual(rf.Names(), gf.Names()) {
		t.Errorf("tensor names differ:\n%v\nwant\n%v", gf.Names(), rf.Names())
	}
	for _, n := range rf.Names() {
		ri, _ := rf.Info(n)
		gi, _ := gf.Info(n)
		if !reflect.DeepEqual(ri.Shape, gi.Shape) {
			t.Errorf("%s: shape %v, peft %v", n, gi.Shape, ri.Shape)
		}
	}
	// PEFT's default init: B is zero, A within ±1/sqrt(in).
	for _, p := range a.Pairs {
		for _, v := range p.B {
			if v != 0 {
				t.Fatal("B not zero")
			}
		}
	}
}

func TestBadInput(t *testing.T) {
	cases := []struct{ name, cfg, want string }{
		{"not json", `{`, "unexpected end"},
		{"dora", `{"peft_type":"LORA","r":8,"lora_alpha":16,"target_modules":["q_proj"],"use_dora":true}`, "DoRA"},
		{"regex", `{"r":8,"lora_alpha":16,"target_modules":".*proj"}`, "regex"},
		{"rank", `{"r":0,"lora_alpha":16,"target_modules":["q_proj"]}`, "rank"},
		{"module", `{"r":8,"lora_alpha":16,"target_modules":["qkv"]}`, "unknown target module"},
		{"prefix tuning", `{"peft_type":"PREFIX_TUNING"}`, "only LORA"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(c.cfg), "x/adapter_config.json")
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "adapter_config.json") {
				t.Fatalf("got %v, want an error mentioning %q and the file", err, c.want)
			}
		})
	}
	// A weights file with a foreign tensor, and a truncated one.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ConfigFile), []byte(`{"r":2,"lora_alpha":4,"target_modules":["q_proj"]}`), 0o644)
	safetensors.WriteFile(filepath.Join(dir, WeightsFile), []safetensors.Tensor{
		safetensors.F32Tensor("base_model.model.model.norm.weight", []int{2}, make([]float32, 2))}, nil)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "not a LoRA tensor") {
		t.Fatalf("foreign tensor: %v", err)
	}
	safetensors.WriteFile(filepath.Join(dir, WeightsFile), []safetensors.Tensor{
		safetensors.F32Tensor("base_model.model.lm_head.weight", []int{2, 2}, make([]float32, 4))}, nil)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "modules_to_save is []") {
		t.Fatalf("undeclared lm_head: %v", err)
	}
	os.WriteFile(filepath.Join(dir, WeightsFile), []byte{1, 2, 3}, 0o644)
	if _, err := Load(dir); err == nil {
		t.Fatal("truncated file loaded")
	}
	safetensors.WriteFile(filepath.Join(dir, WeightsFile), []safetensors.Tensor{
		safetensors.F32Tensor(TensorName(0, "q_proj", "A"), []int{2, 4}, make([]float32, 8))}, nil)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "only one of") {
		t.Fatalf("unpaired tensor: %v", err)
	}
}

func TestMerge(t *testing.T) {
	p := &Pair{In: 3, Out: 2, A: []float32{1, 2, 3, 4, 5, 6}, B: []float32{1, 0, 0, 2}}
	w := make([]float32, 6)
	if err := p.MergeInto(w, 2, 0.5); err != nil {
		t.Fatal(err)
	}
	want := []float32{0.5, 1, 1.5, 4, 5, 6}
	if !reflect.DeepEqual(w, want) {
		t.Fatalf("merged %v, want %v", w, want)
	}
	if err := p.MergeInto(make([]float32, 5), 2, 1); err == nil {
		t.Fatal("wrong size accepted")
	}
}

// TestModulesToSaveRoundTrip: a trained LM head is saved under peft's name
// (the ModulesToSaveWrapper prefix stripped) and listed in the config.
func TestModulesToSaveRoundTrip(t *testing.T) {
	shapes := func(string) (int, int) { return 4, 4 }
	a, err := New(Config{R: 2, Alpha: 4, TargetModules: []string{"q_proj"}, ModulesToSave: []string{"lm_head"}}, 1, shapes, 1)
	if err != nil {
		t.Fatal(err)
	}
	a.Saved = append(a.Saved, &Full{Module: "lm_head", Rows: 3, Cols: 4, W: []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}})
	dir := t.TempDir()
	if err := a.Save(dir); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Open(filepath.Join(dir, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	names := f.Names()
	f.Close()
	want := []string{"base_model.model.lm_head.weight", TensorName(0, "q_proj", "A"), TensorName(0, "q_proj", "B")}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("names %v, want %v", names, want)
	}
	cfg, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
	if !strings.Contains(string(cfg), "\"modules_to_save\": [\n    \"lm_head\"\n  ]") {
		t.Fatalf("config lacks modules_to_save:\n%s", cfg)
	}
	b, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s := b.GetSaved("lm_head"); s == nil || s.Rows != 3 || !reflect.DeepEqual(s.W, a.Saved[0].W) {
		t.Fatalf("loaded %+v", s)
	}
	if _, err := New(Config{R: 2, Alpha: 4, TargetModules: []string{"q_proj"}, ModulesToSave: []string{"norm"}}, 1, shapes, 1); err == nil {
		t.Fatal("modules_to_save norm accepted")
	}
}
