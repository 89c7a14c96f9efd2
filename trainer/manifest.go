package trainer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/crossin-lab/crossin/atomicfile"
)

// WriteManifest hashes every output file under dir (all but the manifest
// itself, trainer.log and checkpoints/) and writes manifest.json last and
// atomically. summary must hold deterministic values only.
func WriteManifest(dir, kind, trainerName string, summary map[string]any) (*Manifest, error) {
	m := &Manifest{Contract: Contract, Kind: kind, Trainer: trainerName, Files: map[string]string{}, Summary: summary}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == CheckpointDir {
				return fs.SkipDir
			}
			return nil
		}
		if rel == ManifestFile || rel == LogFile || !d.Type().IsRegular() {
			return nil
		}
		sum, err := FileSHA256(p)
		if err != nil {
			return err
		}
		m.Files[rel] = sum
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	data, err := MarshalManifest(m)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteAll(filepath.Join(dir, ManifestFile), data, 0o666); err != nil {
		return nil, err
	}
	return m, nil
}

// MarshalManifest encodes a manifest deterministically (sorted keys,
// indented, trailing newline).
func MarshalManifest(m *Manifest) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// ReadManifest reads dir/manifest.json and checks every listed file's hash.
func ReadManifest(dir string) (*Manifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ManifestFile), err)
	}
	if m.Contract != Contract {
		return nil, fmt.Errorf("%s: contract %q, want %q", filepath.Join(dir, ManifestFile), m.Contract, Contract)
	}
	names := make([]string, 0, len(m.Files))
	for n := range m.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		got, err := FileSHA256(filepath.Join(dir, filepath.FromSlash(n)))
		if err != nil {
			return nil, fmt.Errorf("trainer output %s: %w", n, err)
		}
		if got != m.Files[n] {
			return nil, fmt.Errorf("trainer output %s: hash %s, manifest says %s", n, got, m.Files[n])
		}
	}
	return &m, nil
}

// FileSHA256 returns "sha256:<hex>" of a file's bytes.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}
