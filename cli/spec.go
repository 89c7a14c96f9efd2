package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/crossin-lab/crossin/schema"
	"github.com/crossin-lab/crossin/schema/check"
)

// loadSpec loads the spec at paths (default ".") and runs the checks that
// need its data and trainers (package schema/check), so that validate,
// plan and run refuse what would fail later. Warnings go to warn, one per
// line, as "file:line:col: path: warning: message".
func loadSpec(paths []string, warn io.Writer) (*schema.Spec, error) {
	spec, err := schema.Load(specPaths(paths)...)
	if err != nil {
		return nil, err
	}
	warnings, err := check.Spec(spec)
	if len(warnings) > 0 && warn != nil {
		cwd, _ := os.Getwd()
		for _, line := range strings.Split((&schema.Error{Issues: warnings}).Format(cwd), "\n") {
			fmt.Fprintln(warn, "warning: "+line)
		}
	}
	if err != nil {
		return nil, err
	}
	return spec, nil
}
