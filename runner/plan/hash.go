package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// fileMemo remembers content hashes within one process, keyed by path,
// size and mtime. The memo only saves re-reading; keys are always made
// from content. A file modified within the last recentWrite is neither
// remembered nor looked up: a second save within one mtime tick (coarse
// on many file systems) with the same size would look unchanged, and a
// long-running process (watch) would then plan with the old content.
var fileMemo sync.Map // memoKey -> string

type memoKey struct {
	path  string
	size  int64
	mtime time.Time
}

// HashFile returns "sha256:<hex>" of a file's content.
func HashFile(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if fi.IsDir() {
		return "", fmt.Errorf("%s is a directory, want a file", path)
	}
	mk := memoKey{path, fi.Size(), fi.ModTime()}
	trusted := !fresh(fi.ModTime())
	if h, ok := fileMemo.Load(mk); ok && trusted {
		return h.(string), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	sum := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if trusted {
		fileMemo.Store(mk, sum)
	}
	return sum, nil
}

// fresh reports whether a file with modification time mtime may still be
// written again within the same mtime tick (or has a clock skewed into
// the future), so that its (size, mtime) does not identify its content.
func fresh(mtime time.Time) bool {
	return time.Since(mtime) < recentWrite
}

// HashTree hashes a file, or a directory as the sorted list of its regular
// files' slash-separated relative names and content hashes (hidden files
// skipped), so that a directory's key does not depend on where it lies.
func HashTree(root string, hashFile func(string) (string, error)) (string, error) {
	fi, err := os.Stat(root)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		return hashFile(root)
	}
	var lines []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		h, err := hashFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		lines = append(lines, filepath.ToSlash(rel)+"\x00"+h+"\n")
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(lines)
	h := sha256.New()
	for _, l := range lines {
		io.WriteString(h, l)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}
