package trainer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
)

// ProgressEvent is a trainer's progress line on standard output
// (docs/trainer-contract.md): `progress {"done": 12, "total": 300, ...}`.
type ProgressEvent struct {
	Done       int     `json:"done"`
	Total      int     `json:"total"`
	Unit       string  `json:"unit,omitempty"`
	Loss       float64 `json:"loss,omitempty"`
	TokensPerS float64 `json:"tokens_per_s,omitempty"`
	ETAS       float64 `json:"eta_s,omitempty"`
}

// Message is the event as one line for a progress display.
func (e ProgressEvent) Message() string {
	var b strings.Builder
	unit := e.Unit
	if unit == "" {
		unit = "step"
	}
	fmt.Fprintf(&b, "%s %d/%d", unit, e.Done, e.Total)
	if e.Loss != 0 {
		fmt.Fprintf(&b, " loss %.4f", e.Loss)
	}
	if e.TokensPerS > 0 {
		fmt.Fprintf(&b, " %.0f tok/s", e.TokensPerS)
	}
	if e.ETAS > 0 {
		fmt.Fprintf(&b, " ETA %.0fs", e.ETAS)
	}
	return b.String()
}

// ProgressWriter returns a writer that passes every progress line written
// to it on to p (other output is ignored), so that a runner can show the
// progress of a trainer running in a container or a batch job.
func ProgressWriter(p Progress) io.Writer {
	return &progressWriter{p: p}
}

type progressWriter struct {
	mu   sync.Mutex
	p    Progress
	line []byte
}

func (w *progressWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.line = append(w.line, b...)
	for {
		i := bytes.IndexByte(w.line, '\n')
		if i < 0 {
			if len(w.line) > 1<<16 { // not a progress line: drop it
				w.line = w.line[:0]
			}
			return len(b), nil
		}
		w.handle(w.line[:i])
		w.line = w.line[i+1:]
	}
}

func (w *progressWriter) handle(line []byte) {
	rest, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("progress "))
	if !ok || w.p == nil {
		return
	}
	var e ProgressEvent
	if err := json.Unmarshal(rest, &e); err != nil || e.Total <= 0 {
		return
	}
	w.p.Update(e.Done, e.Total, e.Message())
}
