package trainer

import (
	"fmt"
	"io"
	"strings"
	"testing"
)

type recorder []string

func (r *recorder) Update(done, total int, msg string) {
	*r = append(*r, fmt.Sprintf("%d/%d %s", done, total, msg))
}

// TestProgressWriter: progress lines reach the runner, split across writes
// or not; other output and malformed lines do not.
func TestProgressWriter(t *testing.T) {
	var r recorder
	w := ProgressWriter(&r)
	in := "loading model\n" +
		`progress {"done": 1, "total": 30, "unit": "step", "loss": 2.5, "tokens_per_s": 5120.4, "eta_s": 58}` + "\n" +
		"progress {broken\n" +
		`progress {"done": 3, "total": 0}` + "\n" +
		`  progress {"done": 2, "total": 30, "loss": 2.25}` + "\n" +
		`progress {"done": 4, "total": 8, "unit": "prompt"}`
	for _, chunk := range []string{in[:20], in[20:77], in[77:]} {
		io.WriteString(w, chunk)
	}
	io.WriteString(w, "\n")
	want := []string{
		"1/30 step 1/30 loss 2.5000 5120 tok/s ETA 58s",
		"2/30 step 2/30 loss 2.2500",
		"4/8 prompt 4/8",
	}
	if strings.Join(r, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(r, "\n"), strings.Join(want, "\n"))
	}
}
