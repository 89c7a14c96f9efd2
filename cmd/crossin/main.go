// Command crossin runs CrossIn cross-lingual instruction-tuning experiments
// declared in CUE. All behaviour lives in package cli and the library
// packages; this file only hands the exit code to the OS.
package main

import (
	"os"

	"github.com/crossin-lab/crossin/cli"
)

func main() { os.Exit(cli.Main()) }
