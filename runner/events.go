package runner

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/crossin-lab/crossin/runner/plan"
)

// Event types.
const (
	EvPlan     = "plan"     // Total stages, Cached of them already in the cache
	EvCached   = "cached"   // stage reused (Shared: run by another process)
	EvWaiting  = "waiting"  // another process is running this stage
	EvCorrupt  = "corrupt"  // a cache entry failed verification; it will be rebuilt
	EvRemote   = "remote"   // remote cache: a stage pushed (Message) or a pull/push that failed (Error)
	EvStart    = "start"    // stage started (Resumed: from checkpoints)
	EvProgress = "progress" // Done of StageTotal, ETA seconds
	EvRetry    = "retry"
	EvDone     = "done"
	EvFailed   = "failed"
	EvSkipped  = "skipped"
	EvFinish   = "finish"
)

// Event is one progress event; with --json each is printed as one line.
type Event struct {
	Time       time.Time `json:"time"`
	Type       string    `json:"event"`
	Stage      string    `json:"stage,omitempty"`
	Kind       plan.Kind `json:"kind,omitempty"`
	Action     string    `json:"action,omitempty"`
	Output     string    `json:"output,omitempty"`
	Shared     bool      `json:"shared,omitempty"`
	Remote     bool      `json:"remote,omitempty"` // EvCached: pulled from the remote cache
	Resumed    bool      `json:"resumed,omitempty"`
	Attempt    int       `json:"attempt,omitempty"`
	Done       int       `json:"done,omitempty"`
	StageTotal int       `json:"stage_total,omitempty"`
	Message    string    `json:"message,omitempty"`
	ETA        float64   `json:"eta_s,omitempty"`
	Seconds    float64   `json:"seconds,omitempty"`
	Error      string    `json:"error,omitempty"`
	Total      int       `json:"total,omitempty"`
	Cached     int       `json:"cached,omitempty"`
	Ran        int       `json:"ran,omitempty"`
	Failed     int       `json:"failed,omitempty"`
	Skipped    int       `json:"skipped,omitempty"`
}

// eventSerializer calls the sink from one goroutine at a time.
type eventSerializer struct {
	mu   sync.Mutex
	sink func(Event)
}

func newEventSerializer(sink func(Event)) *eventSerializer {
	return &eventSerializer{sink: sink}
}

func (s *eventSerializer) emit(ev Event) {
	if s.sink == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sink(ev)
}

// JSONEvents writes each event as one JSON line.
func JSONEvents(w io.Writer) func(Event) {
	enc := json.NewEncoder(w)
	return func(ev Event) { _ = enc.Encode(ev) }
}

// PlainEvents writes one readable line per state change; progress events
// are shown at most every 10 seconds per stage so logs stay short.
func PlainEvents(w io.Writer) func(Event) {
	lastProgress := map[string]time.Time{}
	return func(ev Event) {
		switch ev.Type {
		case EvPlan:
			fmt.Fprintf(w, "plan: %d stages, %d cached\n", ev.Total, ev.Cached)
		case EvCached:
			if ev.Shared {
				fmt.Fprintf(w, "shared   %s (run by another crossin process)\n", ev.Stage)
			}
			if ev.Remote {
				fmt.Fprintf(w, "pulled   %s (from the remote cache)\n", ev.Stage)
			}
		case EvRemote:
			if ev.Error != "" {
				fmt.Fprintf(w, "remote   %s: %s (continuing without it)\n", ev.Stage, ev.Error)
			} else {
				fmt.Fprintf(w, "pushed   %s\n", ev.Stage)
			}
		case EvWaiting:
			fmt.Fprintf(w, "waiting  %s (another crossin process is running it)\n", ev.Stage)
		case EvCorrupt:
			fmt.Fprintf(w, "corrupt  %s: %s\n", ev.Stage, ev.Error)
		case EvStart:
			attempt := ""
			if ev.Attempt > 1 {
				attempt = fmt.Sprintf(", attempt %d", ev.Attempt)
			}
			if ev.Resumed {
				fmt.Fprintf(w, "resume   %s (from checkpoint%s)\n", ev.Stage, attempt)
			} else if attempt != "" {
				fmt.Fprintf(w, "start    %s (%s)\n", ev.Stage, attempt[2:])
			} else {
				fmt.Fprintf(w, "start    %s\n", ev.Stage)
			}
		case EvProgress:
			if time.Since(lastProgress[ev.Stage]) < 10*time.Second {
				return
			}
			lastProgress[ev.Stage] = time.Now()
			fmt.Fprintf(w, "         %s %d/%d%s\n", ev.Stage, ev.Done, ev.StageTotal, etaSuffix(ev))
		case EvRetry:
			fmt.Fprintf(w, "retry    %s (attempt %d): %s\n", ev.Stage, ev.Attempt, ev.Error)
		case EvDone:
			fmt.Fprintf(w, "done     %s (%s)\n", ev.Stage, fmtSeconds(ev.Seconds))
		case EvFailed:
			fmt.Fprintf(w, "FAILED   %s: %s\n", ev.Stage, ev.Error)
		case EvSkipped:
			fmt.Fprintf(w, "skipped  %s: %s\n", ev.Stage, ev.Error)
		case EvFinish:
			fmt.Fprintf(w, "run: %d stages: %d ran, %d cached, %d failed, %d skipped in %s\n",
				ev.Total, ev.Ran, ev.Cached, ev.Failed, ev.Skipped, fmtSeconds(ev.Seconds))
		}
	}
}

func etaSuffix(ev Event) string {
	s := ""
	if ev.Message != "" {
		s += " " + ev.Message
	}
	// The engine's messages may carry their own ETA.
	if ev.ETA > 0 && !strings.Contains(ev.Message, "ETA") {
		s += " ETA " + fmtSeconds(ev.ETA)
	}
	return s
}

func fmtSeconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

// LiveView renders the whole plan in place on a terminal: counts of stages
// done/running/queued, and one line per running stage with its progress
// and ETA. Finished stages scroll above it as plain lines.
type LiveView struct {
	w       io.Writer
	width   int
	mu      sync.Mutex
	total   int
	done    int
	failed  int
	running map[string]*Event
	lines   int // lines drawn last time
	plain   func(Event)
	ticker  *time.Ticker
	stop    chan struct{}
	start   time.Time
}

// NewLiveView returns a live view writing to a terminal of the given width.
// Call Close when the run ends.
func NewLiveView(w io.Writer, width int) *LiveView {
	if width <= 20 {
		width = 80
	}
	v := &LiveView{w: w, width: width, running: map[string]*Event{}, stop: make(chan struct{}), start: time.Now()}
	v.plain = PlainEvents(w)
	v.ticker = time.NewTicker(500 * time.Millisecond)
	go func() {
		for {
			select {
			case <-v.ticker.C:
				v.mu.Lock()
				v.redraw()
				v.mu.Unlock()
			case <-v.stop:
				return
			}
		}
	}()
	return v
}

// Close stops the redraws and erases the live block.
func (v *LiveView) Close() {
	v.ticker.Stop()
	close(v.stop)
	v.mu.Lock()
	v.clear()
	v.mu.Unlock()
}

// Event is the sink to pass in Options.Events.
func (v *LiveView) Event(ev Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.clear()
	switch ev.Type {
	case EvPlan:
		v.total = ev.Total
	case EvStart:
		e := ev
		v.running[ev.Stage] = &e
	case EvProgress:
		if r := v.running[ev.Stage]; r != nil {
			r.Done, r.StageTotal, r.ETA, r.Message = ev.Done, ev.StageTotal, ev.ETA, ev.Message
		}
		v.redraw()
		return
	case EvCached, EvDone:
		delete(v.running, ev.Stage)
		v.done++
	case EvFailed, EvSkipped:
		delete(v.running, ev.Stage)
		v.failed++
	}
	// Finished stages scroll above the block; running ones are in it.
	if (ev.Type != EvCached || ev.Shared) && (ev.Type != EvStart || ev.Resumed) {
		v.plain(ev)
	}
	if ev.Type != EvFinish {
		v.redraw()
	}
}

func (v *LiveView) clear() {
	for i := 0; i < v.lines; i++ {
		fmt.Fprint(v.w, "\x1b[1A\x1b[2K")
	}
	v.lines = 0
}

func (v *LiveView) redraw() {
	v.clear()
	if v.total == 0 {
		return
	}
	queued := v.total - v.done - v.failed - len(v.running)
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %d/%d done, %d running, %d queued", fmtSeconds(time.Since(v.start).Seconds()), v.done, v.total, len(v.running), queued)
	if v.failed > 0 {
		fmt.Fprintf(&b, ", %d failed/skipped", v.failed)
	}
	lines := []string{b.String()}
	names := make([]string, 0, len(v.running))
	for n := range v.running {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r := v.running[n]
		l := "  " + n
		if r.StageTotal > 0 {
			frac := float64(r.Done) / float64(r.StageTotal)
			l += fmt.Sprintf(" %s %d/%d%s", bar(frac, 20), r.Done, r.StageTotal, etaSuffix(*r))
		}
		lines = append(lines, l)
	}
	for _, l := range lines {
		if len(l) > v.width-1 {
			l = l[:v.width-1]
		}
		fmt.Fprintln(v.w, l)
	}
	v.lines = len(lines)
}

func bar(frac float64, n int) string {
	k := int(frac*float64(n) + 0.5)
	k = max(0, min(n, k))
	return "[" + strings.Repeat("#", k) + strings.Repeat(".", n-k) + "]"
}
