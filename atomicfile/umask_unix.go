//go:build unix

package atomicfile

import (
	"os"
	"sync"
	"syscall"
)

// umask returns the process umask, read once: os.CreateTemp makes files
// 0600, so the requested permissions are applied explicitly, honouring the
// umask as os.WriteFile would.
var umask = sync.OnceValue(func() os.FileMode {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return os.FileMode(m)
})
