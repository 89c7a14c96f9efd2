package jobdata

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/crossin-lab/crossin/engine/tokenizer"
)

// loadTokenizer returns the tokenizer of a model directory and its
// end-of-sequence id. It is memoized: in one process (a run, a watch
// session) every train and eval stage of a model reads the same
// tokenizer, and parsing a 32k-vocabulary tokenizer.json takes a few
// hundred milliseconds each time. An entry is reused only while
// tokenizer.json and tokenizer_config.json keep their size and
// modification time (a model directory in the cache never changes). The
// tokenizer is safe for concurrent use and its encodings do not depend on
// what it encoded before, so sharing it changes no bytes.
func loadTokenizer(dir string) (*tokenizer.Tokenizer, int, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, 0, err
	}
	st := stampOf(abs)
	tokMemo.Lock()
	e := tokMemo.m[abs]
	if e == nil || e.stamp != st {
		if len(tokMemo.m) >= tokMemoMax {
			clear(tokMemo.m) // a few models per process: start over rather than track use
		}
		e = &tokEntry{stamp: st}
		tokMemo.m[abs] = e
	}
	tokMemo.Unlock()
	e.once.Do(func() { e.tok, e.eos, e.err = readTokenizer(dir) })
	if e.err != nil {
		// Not kept: a failure may be fixed before the next attempt.
		tokMemo.Lock()
		if tokMemo.m[abs] == e {
			delete(tokMemo.m, abs)
		}
		tokMemo.Unlock()
	}
	return e.tok, e.eos, e.err
}

// tokMemoMax bounds the tokenizers kept (each takes some MB).
const tokMemoMax = 8

var tokMemo = struct {
	sync.Mutex
	m map[string]*tokEntry
}{m: map[string]*tokEntry{}}

type tokEntry struct {
	stamp [2]fileStamp
	once  sync.Once
	tok   *tokenizer.Tokenizer
	eos   int
	err   error
}

// fileStamp is what says a file changed: its size and modification time
// (zero for a missing file).
type fileStamp struct {
	size int64
	mod  time.Time
}

func stampOf(dir string) [2]fileStamp {
	var s [2]fileStamp
	for i, name := range []string{"tokenizer.json", "tokenizer_config.json"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil {
			s[i] = fileStamp{fi.Size(), fi.ModTime()}
		}
	}
	return s
}

func readTokenizer(dir string) (*tokenizer.Tokenizer, int, error) {
	tok, err := tokenizer.LoadDir(dir)
	if err != nil {
		return nil, 0, err
	}
	eos, ok := tok.EOS()
	if !ok {
		return nil, 0, fmt.Errorf("%s: the tokenizer has no end-of-sequence token", dir)
	}
	return tok, eos, nil
}
