// Package atomicfile writes files so that readers see either the old
// content or the complete new content, never a half-written file: the data
// go to a temporary file in the same directory, which is synced and then
// renamed over the target. A crash or a kill at any point leaves at most a
// stray temporary file (named ".NAME.tmp*"), never a truncated target.
//
// Every package that persists results (the cache, records, lock files,
// adapters, mixtures, predictions) writes through here.
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Write replaces path with data, created with permissions perm (before
// the umask). The parent directory must exist.
func Write(path string, data []byte, perm os.FileMode) error {
	return WriteFunc(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFunc replaces path with what fn writes (buffered). Nothing is
// renamed into place unless fn, the flush and the sync all succeed.
func WriteFunc(path string, perm os.FileMode, fn func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+tempInfix+"*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(name)
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<16)
	if err := fn(bw); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(name, perm&^umask()); err != nil {
		return err
	}
	return os.Rename(name, path)
}

// tempInfix separates a target's name from the random suffix in the name
// of its temporary file: ".NAME.tmp12345".
const tempInfix = ".tmp"

// IsTemp reports whether name (a base name) is one of the temporary files
// Write creates, so that a cleaner (cache gc) can remove the leftovers of
// writes interrupted by a crash without knowing how they are spelled.
func IsTemp(name string) bool {
	if !strings.HasPrefix(name, ".") {
		return false
	}
	i := strings.LastIndex(name, tempInfix)
	if i <= 1 {
		return false
	}
	for _, c := range name[i+len(tempInfix):] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// WriteAll is Write after creating path's parent directories.
func WriteAll(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		return err
	}
	return Write(path, data, perm)
}
