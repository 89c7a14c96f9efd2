package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/crossin-lab/crossin/atomicfile"
)

// HashMemo remembers file content hashes across processes, so planning a
// spec that names a large local model does not re-read gigabytes every
// time. Like Go's build cache it trusts a file's identity (path, size,
// mtime, inode): the memo only saves reading, the key is still the
// content hash. Files modified in the last few seconds are hashed but not
// remembered, since a write within the mtime granularity could go unseen.
type HashMemo struct {
	Dir string // e.g. CACHE/hashes
}

// recentWrite is how old a file must be before its hash is remembered
// (here and in the process's own memo): longer than the mtime granularity
// of common file systems (2 s on FAT, 1 s on ext3 and HFS+).
const recentWrite = 3 * time.Second

var sumRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// HashFile returns "sha256:<hex>" of path's content, from the memo when
// the file is unchanged since it was last hashed.
func (m *HashMemo) HashFile(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", err
	}
	var ino, dev uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino, dev = uint64(st.Ino), uint64(st.Dev)
	}
	id := fmt.Sprintf("v1\x00%s\x00%d\x00%d\x00%d\x00%d", abs, fi.Size(), fi.ModTime().UnixNano(), ino, dev)
	sum := sha256.Sum256([]byte(id))
	name := hex.EncodeToString(sum[:])
	file := filepath.Join(m.Dir, name[:2], name)
	if fresh(fi.ModTime()) {
		return HashFile(abs)
	}
	if b, err := os.ReadFile(file); err == nil {
		if h := strings.TrimSpace(string(b)); sumRE.MatchString(h) {
			return h, nil
		}
	}
	h, err := HashFile(abs)
	if err != nil {
		return "", err
	}
	// A failed write (a read-only cache) only costs a re-read next time.
	if os.MkdirAll(filepath.Dir(file), 0o755) == nil {
		_ = atomicfile.WriteAll(file, []byte(h+"\n"), 0o666)
	}
	return h, nil
}
