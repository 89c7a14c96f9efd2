// Package syncbuf holds Buffer, a bytes.Buffer safe for one writer and
// concurrent readers: tests hand it to a subprocess or a background
// command as stdout and poll what it has written so far. The standard
// library's bytes.Buffer and strings.Builder are not safe for that.
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer is a mutex-guarded bytes.Buffer. The zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
