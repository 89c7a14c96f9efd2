package syncbuf

import (
	"strings"
	"sync"
	"testing"
)

// TestConcurrentWriteRead writes from several goroutines while reading;
// under -race it fails if the buffer is not guarded, and the final
// content must hold every write whole.
func TestConcurrentWriteRead(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				b.Write([]byte("line\n"))
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if got := strings.Count(b.String(), "line\n"); got != 400 {
		t.Fatalf("got %d whole lines, want 400", got)
	}
}
