// Package safetensors reads and writes the Hugging Face safetensors format:
// an 8-byte little-endian header length, a JSON header naming each tensor's
// dtype, shape and byte range, then the raw little-endian tensor bytes.
//
// Files are memory-mapped (read-only sharing of the page cache, private
// copy-on-write mapping) so that float32 weights can be used in place without
// a second copy in memory. Every structural property of the header is
// validated before any tensor is touched: a malformed or truncated file gives
// an error naming the file and the problem, never a panic.
package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"unsafe"
)

// DType is a safetensors element type as spelled in the header.
type DType string

// The element types the format defines. Only F32, BF16 and F16 convert to
// float32; the others can still be listed and read as raw bytes.
const (
	F64  DType = "F64"
	F32  DType = "F32"
	F16  DType = "F16"
	BF16 DType = "BF16"
	I64  DType = "I64"
	I32  DType = "I32"
	I16  DType = "I16"
	I8   DType = "I8"
	U8   DType = "U8"
	BOOL DType = "BOOL"
	// F8_E4M3 and friends exist in newer files; they are listed but not converted.
	F8E4M3 DType = "F8_E4M3"
	F8E5M2 DType = "F8_E5M2"
	U16    DType = "U16"
	U32    DType = "U32"
	U64    DType = "U64"
)

// Size returns the number of bytes per element, or 0 for an unknown dtype.
func (d DType) Size() int {
	switch d {
	case F64, I64, U64:
		return 8
	case F32, I32, U32:
		return 4
	case F16, BF16, I16, U16:
		return 2
	case I8, U8, BOOL, F8E4M3, F8E5M2:
		return 1
	}
	return 0
}

// maxHeader bounds the JSON header, as the reference implementation does
// (100 MB), so a corrupt length cannot make us allocate gigabytes.
const maxHeader = 100 << 20

// TensorInfo describes one tensor of a file.
type TensorInfo struct {
	Name  string
	DType DType
	Shape []int
	// Begin and End are byte offsets relative to the start of the data
	// section (after the header), as in the file.
	Begin, End int64
}

// NumElements returns the product of the shape (1 for a scalar).
func (t TensorInfo) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// File is one parsed safetensors file. Its tensor bytes alias the mapping,
// so they stay valid until Close.
type File struct {
	Path     string
	Metadata map[string]string
	tensors  []TensorInfo // sorted by name
	byName   map[string]int
	data     []byte // the data section
	whole    []byte // the full mapping (nil when parsed from a caller's buffer)
}

type rawEntry struct {
	DType       *string  `json:"dtype"`
	Shape       *[]int64 `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

// Parse parses a complete safetensors file held in buf. The returned File
// aliases buf. name is used in error messages only.
func Parse(buf []byte, name string) (*File, error) {
	if len(buf) < 8 {
		return nil, fmt.Errorf("%s: not a safetensors file: %d bytes, need at least 8 for the header length (truncated?)", name, len(buf))
	}
	n := binary.LittleEndian.Uint64(buf[:8])
	if n > maxHeader {
		return nil, fmt.Errorf("%s: header length %d exceeds the 100 MB limit (corrupt file or not safetensors)", name, n)
	}
	if n > uint64(len(buf)-8) {
		return nil, fmt.Errorf("%s: header length %d but only %d bytes follow (truncated file)", name, n, len(buf)-8)
	}
	hdr := buf[8 : 8+n]
	data := buf[8+n:]
	infos, meta, err := parseHeader(hdr, int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	f := &File{Path: name, Metadata: meta, tensors: infos, data: data, byName: make(map[string]int, len(infos))}
	for i, t := range infos {
		f.byName[t.Name] = i
	}
	return f, nil
}

// parseHeader validates the JSON header against a data section of dataLen
// bytes: every entry has a known dtype, a non-negative shape whose size
// matches its byte range, and the ranges tile the data section exactly.
func parseHeader(hdr []byte, dataLen int64) ([]TensorInfo, map[string]string, error) {
	if len(hdr) == 0 || hdr[0] != '{' {
		return nil, nil, errors.New("header does not start with '{' (not a safetensors file)")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &raw); err != nil {
		return nil, nil, fmt.Errorf("header is not a JSON object: %v", err)
	}
	var meta map[string]string
	infos := make([]TensorInfo, 0, len(raw))
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &meta); err != nil {
				return nil, nil, fmt.Errorf("__metadata__ must map strings to strings: %v", err)
			}
			continue
		}
		var e rawEntry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, nil, fmt.Errorf("tensor %q: entry is not {dtype, shape, data_offsets}: %v", name, err)
		}
		switch {
		case e.DType == nil:
			return nil, nil, fmt.Errorf("tensor %q: missing \"dtype\"", name)
		case e.Shape == nil:
			return nil, nil, fmt.Errorf("tensor %q: missing \"shape\"", name)
		case e.DataOffsets == nil:
			return nil, nil, fmt.Errorf("tensor %q: missing \"data_offsets\"", name)
		}
		dt := DType(*e.DType)
		if dt.Size() == 0 {
			return nil, nil, fmt.Errorf("tensor %q: unknown dtype %q", name, *e.DType)
		}
		if len(*e.DataOffsets) != 2 {
			return nil, nil, fmt.Errorf("tensor %q: data_offsets must be [begin, end], got %d numbers", name, len(*e.DataOffsets))
		}
		b, en := (*e.DataOffsets)[0], (*e.DataOffsets)[1]
		if b < 0 || en < b || en > dataLen {
			return nil, nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] outside the %d-byte data section (truncated file?)", name, b, en, dataLen)
		}
		shape := make([]int, len(*e.Shape))
		numel := int64(1)
		for i, d := range *e.Shape {
			if d < 0 {
				return nil, nil, fmt.Errorf("tensor %q: negative dimension %d in shape", name, d)
			}
			if d > 0 && numel > math.MaxInt64/int64(dt.Size())/d {
				return nil, nil, fmt.Errorf("tensor %q: shape %v overflows", name, *e.Shape)
			}
			numel *= d
			shape[i] = int(d)
		}
		if numel*int64(dt.Size()) != en-b {
			return nil, nil, fmt.Errorf("tensor %q: shape %v of %s needs %d bytes but data_offsets span %d", name, *e.Shape, dt, numel*int64(dt.Size()), en-b)
		}
		infos = append(infos, TensorInfo{Name: name, DType: dt, Shape: shape, Begin: b, End: en})
	}
	// The byte ranges must tile the data section with no gap or overlap.
	byOff := make([]TensorInfo, len(infos))
	copy(byOff, infos)
	sort.Slice(byOff, func(i, j int) bool {
		if byOff[i].Begin != byOff[j].Begin {
			return byOff[i].Begin < byOff[j].Begin
		}
		return byOff[i].End < byOff[j].End
	})
	var pos int64
	for _, t := range byOff {
		if t.Begin != pos {
			if t.Begin < pos {
				return nil, nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] overlap the previous tensor", t.Name, t.Begin, t.End)
			}
			return nil, nil, fmt.Errorf("tensor %q: gap in the data section before offset %d", t.Name, t.Begin)
		}
		pos = t.End
	}
	if pos != dataLen {
		return nil, nil, fmt.Errorf("data section has %d bytes but the tensors cover %d (trailing bytes or truncated header)", dataLen, pos)
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Name < infos[j].Name })
	return infos, meta, nil
}

// Names returns the tensor names in sorted order.
func (f *File) Names() []string {
	out := make([]string, len(f.tensors))
	for i, t := range f.tensors {
		out[i] = t.Name
	}
	return out
}

// Tensors returns the descriptions of all tensors, sorted by name.
func (f *File) Tensors() []TensorInfo { return append([]TensorInfo(nil), f.tensors...) }

// Info returns the description of the named tensor.
func (f *File) Info(name string) (TensorInfo, bool) {
	i, ok := f.byName[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.tensors[i], true
}

// Raw returns the tensor's bytes, aliasing the file's mapping.
func (f *File) Raw(name string) ([]byte, TensorInfo, error) {
	t, ok := f.Info(name)
	if !ok {
		return nil, TensorInfo{}, fmt.Errorf("%s: no tensor named %q", f.Path, name)
	}
	return f.data[t.Begin:t.End:t.End], t, nil
}

// Float32 returns the named tensor as float32 values. A little-endian F32
// tensor whose bytes are 4-byte aligned is returned in place (aliasing the
// private mapping: writes are copy-on-write and never reach the file);
// BF16 and F16 tensors are converted into a new slice.
func (f *File) Float32(name string) ([]float32, TensorInfo, error) {
	b, t, err := f.Raw(name)
	if err != nil {
		return nil, t, err
	}
	v, err := ToFloat32(b, t.DType)
	if err != nil {
		return nil, t, fmt.Errorf("%s: tensor %q: %w", f.Path, name, err)
	}
	return v, t, nil
}

// ToFloat32 converts raw little-endian bytes of dtype dt to float32. F32
// input that is suitably aligned is reinterpreted without copying.
func ToFloat32(b []byte, dt DType) ([]float32, error) {
	switch dt {
	case F32:
		n := len(b) / 4
		if n == 0 {
			return []float32{}, nil
		}
		if nativeLittleEndian && uintptr(unsafe.Pointer(&b[0]))%4 == 0 {
			return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n), nil
		}
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return out, nil
	case BF16:
		out := make([]float32, len(b)/2)
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
		}
		return out, nil
	case F16:
		out := make([]float32, len(b)/2)
		for i := range out {
			out[i] = HalfToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
		return out, nil
	case F64:
		out := make([]float32, len(b)/8)
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
		return out, nil
	}
	return nil, fmt.Errorf("dtype %s cannot be converted to float32 (supported: F32, BF16, F16, F64)", dt)
}

// HalfToFloat32 converts an IEEE 754 binary16 value to float32 exactly.
func HalfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// Subnormal: value = mant * 2^-24.
		v := float32(mant) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}

// Float32ToBF16 rounds to nearest even, as PyTorch does.
func Float32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 { // NaN: keep it quiet
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

var nativeLittleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()
