//go:build ignore

// pause is the CI cluster's pod sandbox process (the cluster has no
// internet, so no registry.k8s.io/pause): sleep forever, reap zombies,
// exit on SIGINT/SIGTERM. .ci/k8s.sh builds it.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 8)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range c {
		if s == syscall.SIGCHLD {
			for {
				var ws syscall.WaitStatus
				if pid, _ := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 {
					break
				}
			}
			continue
		}
		os.Exit(0)
	}
}
