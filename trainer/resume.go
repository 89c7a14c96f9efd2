package trainer

import (
	"fmt"
	"regexp"
	"strconv"
)

// ResumedLine is the line a train job that continued from a checkpoint
// writes to trainer.log (or prints): "resumed from step N", N being the
// optimiser step of the checkpoint it continued after. Byte-identical
// outputs alone cannot tell a trainer that resumed from one that silently
// started over, so the contract asks for this line and the conformance
// suite requires it after a kill. trainer.log is not an output (the
// runner moves it into the stage log), so the line never changes results.
func ResumedLine(step int) string { return fmt.Sprintf("resumed from step %d", step) }

var resumedRE = regexp.MustCompile(`(?m)\bresumed from step ([0-9]+)\b`)

// ResumedStep returns the step of the last ResumedLine in a trainer's log
// or output, and false when there is none.
func ResumedStep(log []byte) (int, bool) {
	all := resumedRE.FindAllSubmatch(log, -1)
	if len(all) == 0 {
		return 0, false
	}
	n, err := strconv.Atoi(string(all[len(all)-1][1]))
	return n, err == nil
}
