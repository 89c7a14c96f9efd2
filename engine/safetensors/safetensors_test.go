package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/internal/sharedtest"
)

func sample() []Tensor {
	bf := make([]byte, 6)
	for i, v := range []float32{1.5, -2, 0.25} {
		binary.LittleEndian.PutUint16(bf[2*i:], Float32ToBF16(v))
	}
	f16 := []byte{0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00} // 1, -2, smallest subnormal
	return []Tensor{
		F32Tensor("b.weight", []int{2, 3}, []float32{1, 2, 3, 4, 5, 6}),
		{Name: "a.bf16", DType: BF16, Shape: []int{3}, Data: bf},
		{Name: "c.f16", DType: F16, Shape: []int{3}, Data: f16},
		F32Tensor("scalar", []int{}, []float32{7}),
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.safetensors")
	if err := WriteFile(p, sample(), map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := strings.Join(f.Names(), ","); got != "a.bf16,b.weight,c.f16,scalar" {
		t.Fatalf("names %s", got)
	}
	if f.Metadata["format"] != "pt" {
		t.Fatalf("metadata %v", f.Metadata)
	}
	cases := map[string][]float32{
		"b.weight": {1, 2, 3, 4, 5, 6},
		"a.bf16":   {1.5, -2, 0.25},
		"c.f16":    {1, -2, float32(math.Ldexp(1, -24))},
		"scalar":   {7},
	}
	for name, want := range cases {
		v, info, err := f.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		if info.NumElements() != len(want) {
			t.Fatalf("%s: numel %d", name, info.NumElements())
		}
		for i := range want {
			if v[i] != want[i] {
				t.Errorf("%s[%d] = %v want %v", name, i, v[i], want[i])
			}
		}
	}
	// Header must be 8-byte aligned so F32 data is usable in place.
	raw, _ := os.ReadFile(p)
	if n := binary.LittleEndian.Uint64(raw); n%8 != 0 {
		t.Fatalf("header length %d not a multiple of 8", n)
	}
	// Deterministic: same input, same bytes, whatever the input order.
	var a, b bytes.Buffer
	ts := sample()
	Encode(&a, ts, map[string]string{"format": "pt", "z": "1"})
	ts[0], ts[3] = ts[3], ts[0]
	Encode(&b, ts, map[string]string{"z": "1", "format": "pt"})
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("Encode depends on input order")
	}
}

func TestHalf(t *testing.T) {
	for _, c := range []struct {
		h    uint16
		want float32
	}{{0x3c00, 1}, {0xc000, -2}, {0x7bff, 65504}, {0x0400, float32(math.Ldexp(1, -14))}, {0x8000, float32(math.Copysign(0, -1))}} {
		if got := HalfToFloat32(c.h); got != c.want || math.Signbit(float64(got)) != math.Signbit(float64(c.want)) {
			t.Errorf("HalfToFloat32(%#x) = %v want %v", c.h, got, c.want)
		}
	}
	if !math.IsInf(float64(HalfToFloat32(0x7c00)), 1) || !math.IsNaN(float64(HalfToFloat32(0x7e00))) {
		t.Error("inf/nan")
	}
	if Float32ToBF16(1.00390625) != 0x3f80 { // tie rounds to even
		t.Errorf("bf16 rounding: %#x", Float32ToBF16(1.00390625))
	}
}

func file(header string, data int) []byte {
	b := make([]byte, 8+len(header)+data)
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	copy(b[8:], header)
	return b
}

func TestMalformed(t *testing.T) {
	good := func() []byte {
		var b bytes.Buffer
		Encode(&b, sample(), nil)
		return b.Bytes()
	}()
	cases := []struct {
		name string
		buf  []byte
		want string
	}{
		{"empty", nil, "need at least 8"},
		{"short", []byte{1, 2, 3}, "need at least 8"},
		{"huge header", file("{}", 0)[:8:8], "exceeds"},
		{"truncated header", good[:40], "truncated"},
		{"truncated data", good[:len(good)-3], "outside"},
		{"trailing", append(append([]byte{}, good...), 0, 0, 0, 0), "trailing"},
		{"not json", file("{nope", 0), "not a JSON object"},
		{"not object", file("[1]", 0), "does not start"},
		{"missing dtype", file(`{"x":{"shape":[1],"data_offsets":[0,4]}}`, 4), `missing "dtype"`},
		{"missing shape", file(`{"x":{"dtype":"F32","data_offsets":[0,4]}}`, 4), `missing "shape"`},
		{"missing offsets", file(`{"x":{"dtype":"F32","shape":[1]}}`, 4), `missing "data_offsets"`},
		{"bad dtype", file(`{"x":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}}`, 4), "unknown dtype"},
		{"size mismatch", file(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, 4), "needs 8 bytes"},
		{"negative dim", file(`{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, 4), "negative"},
		{"overlap", file(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4), "overlap"},
		{"gap", file(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "gap"},
		{"bad metadata", file(`{"__metadata__":{"a":1}}`, 0), "__metadata__"},
		{"overflow", file(`{"x":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}}`, 4), "overflows"},
	}
	binary.LittleEndian.PutUint64(cases[2].buf, 1<<40)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.buf, "m.safetensors")
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "m.safetensors: ") {
				t.Fatalf("got %v, want error containing %q", err, c.want)
			}
		})
	}
	// Through Open too, on a truncated file on disk.
	p := filepath.Join(t.TempDir(), "t.safetensors")
	os.WriteFile(p, good[:len(good)/2], 0o644)
	if _, err := Open(p); err == nil || !strings.Contains(err.Error(), "t.safetensors") {
		t.Fatalf("Open truncated: %v", err)
	}
}

func TestSharded(t *testing.T) {
	dir := t.TempDir()
	WriteFile(filepath.Join(dir, "model-00001-of-00002.safetensors"), []Tensor{F32Tensor("a", []int{1}, []float32{1})}, nil)
	WriteFile(filepath.Join(dir, "model-00002-of-00002.safetensors"), []Tensor{F32Tensor("b", []int{1}, []float32{2})}, nil)
	idx := `{"metadata":{},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}`
	os.WriteFile(filepath.Join(dir, IndexName), []byte(idx), 0o644)
	s, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if strings.Join(s.Names(), ",") != "a,b" {
		t.Fatal(s.Names())
	}
	v, _, err := s.Float32("b")
	if err != nil || v[0] != 2 {
		t.Fatal(v, err)
	}
	// An index pointing at the wrong shard is an error.
	os.WriteFile(filepath.Join(dir, IndexName), []byte(`{"weight_map":{"a":"model-00002-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}`), 0o644)
	if _, err := OpenDir(dir); err == nil || !strings.Contains(err.Error(), `tensor "a"`) {
		t.Fatalf("bad index: %v", err)
	}
	if _, err := OpenDir(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no model.safetensors") {
		t.Fatalf("empty dir: %v", err)
	}
}

// TestReferenceFile reads a file written by Hugging Face and re-encodes it:
// the writer must reproduce it byte for byte.
func TestReferenceFile(t *testing.T) {
	p := sharedtest.Path(t, "reference/hf-tiny-llama/tiny-llama/model.safetensors")
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ts []Tensor
	for _, info := range f.Tensors() {
		b, _, _ := f.Raw(info.Name)
		ts = append(ts, Tensor{Name: info.Name, DType: info.DType, Shape: info.Shape, Data: b})
	}
	var out bytes.Buffer
	if err := Encode(&out, ts, f.Metadata); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), raw) {
		t.Fatal("re-encoded reference file differs from the original")
	}
}

func FuzzParse(f *testing.F) {
	var b bytes.Buffer
	Encode(&b, sample(), map[string]string{"format": "pt"})
	f.Add(b.Bytes())
	f.Add(file(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, buf []byte) {
		file, err := Parse(buf, "fuzz")
		if err != nil {
			return
		}
		for _, n := range file.Names() {
			if _, _, err := file.Raw(n); err != nil {
				t.Fatal(err)
			}
			file.Float32(n)
		}
	})
}
