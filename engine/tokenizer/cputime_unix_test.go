//go:build unix

package tokenizer

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time this process has used (user + system). The
// benchmarks report throughput per CPU-second next to wall-clock MB/s,
// since the shared build machine is often oversubscribed.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
