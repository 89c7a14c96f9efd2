package cli

import (
	"errors"
	"strings"

	"github.com/crossin-lab/crossin/schema"
)

// formatError renders an error for the terminal: spec problems are
// printed one per line as "file:line:col: path: message" with file names
// relative to the working directory, and CUE's empty-disjunction chatter
// folded into one message naming the allowed values.
func formatError(err error, cwd string) string {
	var se *schema.Error
	if errors.As(err, &se) {
		return se.Format(cwd)
	}
	if ce := schema.CUEError(err); ce != nil {
		return ce.Format(cwd)
	}
	msg := err.Error()
	if cwd != "" && cwd != "/" {
		// Paths inside the working directory read better relative.
		msg = strings.ReplaceAll(msg, cwd+"/", "")
	}
	return msg
}
