package hub

import (
	"io/fs"
	"path/filepath"
	"testing"
)

// filepathWalk calls fn for every regular file under root.
func filepathWalk(t *testing.T, root string, fn func(path string)) {
	t.Helper()
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			fn(p)
		}
		return nil
	})
}
