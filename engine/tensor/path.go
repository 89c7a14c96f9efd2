package tensor

import "runtime"

// ArithmeticPath names the float32 arithmetic of this process's engine:
// the architecture (with its Go code-generation level where that changes
// rounding) and the kernels' path, "avx2-fma" for the assembly tiles or
// "generic" for the pure-Go ones. Two processes with the same path compute
// byte-identical products; with different paths the last bits can differ
// (fused multiply-add rounds once, a separate multiply and add twice; on
// arm64, and on amd64 built with GOAMD64=v3 or higher, the Go compiler
// fuses x*y+z in Go code too).
//
// Every cache key of bytes the embedded engine computes includes it, so a
// cache shared between machines never serves one path's outputs to
// another as if identical.
func ArithmeticPath() string {
	k := "generic"
	if useAVX2 {
		k = asmPath
	}
	return runtime.GOARCH + goLevel + "-" + k
}

// HasAssembly reports whether this build and CPU can run the assembly
// tiles (false under the noasm build tag).
func HasAssembly() bool { return hasAsm }

// UseAssembly turns the assembly tiles on or off (on only where
// HasAssembly) and returns the previous setting. Nothing in crossin's
// commands calls it; tests use it to compute every arithmetic path this
// machine has in one process, and must restore the setting.
func UseAssembly(on bool) (prev bool) {
	prev = useAVX2
	setAVX2(on)
	return prev
}
