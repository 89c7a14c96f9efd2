package trainer

import "testing"

func TestResumedStep(t *testing.T) {
	for _, tt := range []struct {
		log  string
		step int
		ok   bool
	}{
		{"", 0, false},
		{"training on 24 examples\n", 0, false},
		{ResumedLine(3) + "\n", 3, true},
		{"2026-12-01 12:00:00 " + ResumedLine(7) + "\nstep 8\n", 7, true},
		{ResumedLine(2) + "\n" + ResumedLine(5) + "\n", 5, true}, // the last attempt counts
		{"resumed from the checkpoint of step 4\n", 0, false},
		{"unresumed from step 4\n", 0, false},
	} {
		step, ok := ResumedStep([]byte(tt.log))
		if step != tt.step || ok != tt.ok {
			t.Errorf("ResumedStep(%q) = %d, %v; want %d, %v", tt.log, step, ok, tt.step, tt.ok)
		}
	}
}
