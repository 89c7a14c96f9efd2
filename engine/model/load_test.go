package model

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/crossin-lab/crossin/engine/safetensors"
)

// TestLoadBF16Sharded stores a model as bfloat16 / float16 shards with an
// index and checks it computes exactly what float32 weights holding the
// same (rounded) values compute.
func TestLoadBF16Sharded(t *testing.T) {
	src := initTiny(t, "llama", 5)
	f, err := safetensors.Open(filepath.Join(src, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	half, rounded := t.TempDir(), t.TempDir()
	var shard [2][]safetensors.Tensor
	var f32 []safetensors.Tensor
	weightMap := map[string]string{}
	for i, info := range f.Tensors() {
		v, _, err := f.Float32(info.Name)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 2*len(v))
		r := make([]float32, len(v))
		dt := safetensors.BF16
		if i%3 == 0 {
			dt = safetensors.F16
		}
		for j, x := range v {
			var h uint16
			if dt == safetensors.BF16 {
				h = safetensors.Float32ToBF16(x)
				r[j] = math.Float32frombits(uint32(h) << 16)
			} else {
				h = toHalf(x)
				r[j] = safetensors.HalfToFloat32(h)
			}
			binary.LittleEndian.PutUint16(b[2*j:], h)
		}
		k := i % 2
		shard[k] = append(shard[k], safetensors.Tensor{Name: info.Name, DType: dt, Shape: info.Shape, Data: b})
		weightMap[info.Name] = []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}[k]
		f32 = append(f32, safetensors.F32Tensor(info.Name, info.Shape, r))
	}
	for k, name := range []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"} {
		if err := safetensors.WriteFile(filepath.Join(half, name), shard[k], nil); err != nil {
			t.Fatal(err)
		}
	}
	idx, _ := json.Marshal(map[string]any{"metadata": map[string]any{}, "weight_map": weightMap})
	os.WriteFile(filepath.Join(half, safetensors.IndexName), idx, 0o644)
	if err := safetensors.WriteFile(filepath.Join(rounded, "model.safetensors"), f32, nil); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{half, rounded} {
		b, _ := os.ReadFile(filepath.Join(src, "config.json"))
		os.WriteFile(filepath.Join(d, "config.json"), b, 0o644)
	}
	a, err := Load(half)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Load(rounded)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a.set != nil {
		t.Error("converted weights kept the mapping open")
	}
	ids := []int{1, 17, 250, 3, 99, 42}
	na, err := a.NLL(ids)
	if err != nil {
		t.Fatal(err)
	}
	nb, _ := b.NLL(ids)
	for i := range na {
		if na[i] != nb[i] {
			t.Fatalf("nll[%d]: half %v, float32 %v", i, na[i], nb[i])
		}
	}
}

// toHalf rounds a float32 to binary16 (round to nearest even; test values
// are small normal numbers).
func toHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int((b>>23)&0xff) - 127 + 15
	mant := b & 0x7fffff
	if exp <= 0 {
		return sign // flush tiny values to zero
	}
	// Round the 23-bit mantissa to 10 bits, nearest even.
	r := mant >> 13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && r&1 == 1) {
		r++
		if r == 0x400 {
			r = 0
			exp++
		}
	}
	return sign | uint16(exp)<<10 | uint16(r)
}
