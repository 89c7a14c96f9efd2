package runner

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestPlainAndJSONEvents(t *testing.T) {
	evs := []Event{
		{Type: EvPlan, Total: 3, Cached: 1},
		{Type: EvStart, Stage: "train/a", Attempt: 1},
		{Type: EvStart, Stage: "train/b", Attempt: 3, Resumed: true},
		{Type: EvStart, Stage: "eval/c", Attempt: 2},
		{Type: EvProgress, Stage: "train/a", Done: 1, StageTotal: 4, ETA: 3},
		{Type: EvWaiting, Stage: "eval/b"},
		{Type: EvCached, Stage: "eval/b", Shared: true},
		{Type: EvCorrupt, Stage: "score/c", Error: "cache entry x is corrupt"},
		{Type: EvDone, Stage: "train/a", Seconds: 1.5},
		{Type: EvFailed, Stage: "score/c", Error: "boom"},
		{Type: EvFinish, Total: 3, Ran: 1, Cached: 1, Failed: 1, Seconds: 2},
	}
	var plain, js bytes.Buffer
	p, j := PlainEvents(&plain), JSONEvents(&js)
	for _, ev := range evs {
		p(ev)
		j(ev)
	}
	want := `plan: 3 stages, 1 cached
start    train/a
resume   train/b (from checkpoint, attempt 3)
start    eval/c (attempt 2)
         train/a 1/4 ETA 3s
waiting  eval/b (another crossin process is running it)
shared   eval/b (run by another crossin process)
corrupt  score/c: cache entry x is corrupt
done     train/a (1.5s)
FAILED   score/c: boom
run: 3 stages: 1 ran, 1 cached, 1 failed, 0 skipped in 2s
`
	if plain.String() != want {
		t.Errorf("plain events:\n%s\nwant:\n%s", plain.String(), want)
	}
	lines := strings.Split(strings.TrimSpace(js.String()), "\n")
	if len(lines) != len(evs) {
		t.Fatalf("%d JSON lines for %d events", len(lines), len(evs))
	}
	var ev Event
	if err := json.Unmarshal([]byte(lines[4]), &ev); err != nil || ev.Type != EvProgress || ev.StageTotal != 4 {
		t.Fatalf("JSON line %q: %v", lines[4], err)
	}
}

func TestLiveView(t *testing.T) {
	var b bytes.Buffer
	v := NewLiveView(&b, 60)
	v.Event(Event{Type: EvPlan, Total: 4})
	v.Event(Event{Type: EvCached, Stage: "data/x"})
	v.Event(Event{Type: EvStart, Stage: "train/a"})
	v.Event(Event{Type: EvProgress, Stage: "train/a", Done: 5, StageTotal: 10, ETA: 7})
	out := b.String()
	for _, want := range []string{"1/4 done, 1 running, 2 queued", "train/a [##########..........] 5/10 ETA 7s"} {
		if !strings.Contains(out, want) {
			t.Errorf("live view lacks %q:\n%q", want, out)
		}
	}
	v.Event(Event{Type: EvDone, Stage: "train/a", Seconds: 1})
	v.Close()
	// After Close the block is erased: the last thing written is the
	// cursor-up/erase sequence for the lines it drew.
	if !strings.HasSuffix(b.String(), "\x1b[1A\x1b[2K") {
		t.Errorf("live block not erased at Close: %q", b.String()[max(0, b.Len()-40):])
	}
}
