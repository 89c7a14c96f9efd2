package main

import (
	"os"
	"runtime/pprof"

	"github.com/crossin-lab/crossin/cli"
)

func main() {
	f, _ := os.Create(os.Getenv("PROF"))
	pprof.StartCPUProfile(f)
	rc := cli.Main()
	pprof.StopCPUProfile()
	f.Close()
	os.Exit(rc)
}
