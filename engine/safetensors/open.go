package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"syscall"
)

// Open memory-maps and parses the safetensors file at path. The mapping is
// private and writable (copy-on-write), so in-place float32 tensors can be
// modified by a caller without touching the file. Close releases it.
func Open(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size < 8 {
		return nil, fmt.Errorf("%s: not a safetensors file: %d bytes, need at least 8 for the header length (truncated?)", path, size)
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("%s: file too large to map", path)
	}
	buf, err := syscall.Mmap(int(fh.Fd()), 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("%s: mmap: %w", path, err)
	}
	f, err := Parse(buf, path)
	if err != nil {
		syscall.Munmap(buf)
		return nil, err
	}
	f.whole = buf
	return f, nil
}

// Close unmaps the file. Slices obtained from Raw or in-place Float32 must
// not be used afterwards.
func (f *File) Close() error {
	if f == nil || f.whole == nil {
		return nil
	}
	b := f.whole
	f.whole, f.data = nil, nil
	return syscall.Munmap(b)
}

// Set is a model's weights spread over one or more files: either a single
// model.safetensors or shards listed by model.safetensors.index.json.
type Set struct {
	Dir   string
	Files []*File
	where map[string]*File
}

// IndexName and SingleName are the file names Hugging Face uses.
const (
	IndexName  = "model.safetensors.index.json"
	SingleName = "model.safetensors"
)

// OpenDir opens the weights of a Hugging Face model directory: the shards
// named in model.safetensors.index.json if it exists, else model.safetensors.
func OpenDir(dir string) (*Set, error) {
	idxPath := filepath.Join(dir, IndexName)
	idx, err := os.ReadFile(idxPath)
	if errors.Is(err, os.ErrNotExist) {
		p := filepath.Join(dir, SingleName)
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s: no %s or %s: not a Hugging Face model directory with safetensors weights", dir, SingleName, IndexName)
		}
		return OpenFiles(dir, p)
	}
	if err != nil {
		return nil, err
	}
	var ix struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(idx, &ix); err != nil {
		return nil, fmt.Errorf("%s: %v", idxPath, err)
	}
	if len(ix.WeightMap) == 0 {
		return nil, fmt.Errorf("%s: empty or missing \"weight_map\"", idxPath)
	}
	names := make([]string, 0, len(ix.WeightMap))
	for name := range ix.WeightMap {
		names = append(names, name)
	}
	sort.Strings(names)
	var shards []string
	seen := map[string]bool{}
	for _, n := range names {
		s := ix.WeightMap[n]
		if filepath.Base(s) != s {
			return nil, fmt.Errorf("%s: shard name %q for tensor %q must be a plain file name", idxPath, s, n)
		}
		if !seen[s] {
			seen[s] = true
			shards = append(shards, filepath.Join(dir, s))
		}
	}
	sort.Strings(shards)
	set, err := OpenFiles(dir, shards...)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		f, ok := set.where[n]
		if !ok || filepath.Base(f.Path) != ix.WeightMap[n] {
			set.Close()
			return nil, fmt.Errorf("%s: tensor %q is mapped to %s but that shard does not contain it", idxPath, n, ix.WeightMap[n])
		}
	}
	return set, nil
}

// OpenFiles opens the given files as one set; a tensor name may appear in
// only one of them.
func OpenFiles(dir string, paths ...string) (*Set, error) {
	s := &Set{Dir: dir, where: map[string]*File{}}
	for _, p := range paths {
		f, err := Open(p)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.Files = append(s.Files, f)
		for _, t := range f.tensors {
			if other, dup := s.where[t.Name]; dup {
				s.Close()
				return nil, fmt.Errorf("tensor %q appears in both %s and %s", t.Name, other.Path, p)
			}
			s.where[t.Name] = f
		}
	}
	return s, nil
}

// Names returns all tensor names, sorted.
func (s *Set) Names() []string {
	out := make([]string, 0, len(s.where))
	for n := range s.where {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Info describes the named tensor.
func (s *Set) Info(name string) (TensorInfo, bool) {
	f, ok := s.where[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Info(name)
}

// Float32 returns the named tensor as float32 (see File.Float32).
func (s *Set) Float32(name string) ([]float32, TensorInfo, error) {
	f, ok := s.where[name]
	if !ok {
		return nil, TensorInfo{}, fmt.Errorf("%s: no tensor named %q in the model's safetensors", s.Dir, name)
	}
	return f.Float32(name)
}

// Close closes every file of the set.
func (s *Set) Close() error {
	var first error
	for _, f := range s.Files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	s.Files = nil
	return first
}
