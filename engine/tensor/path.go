package tensor

import (
	"fmt"
	"runtime"
)

// kernelPath is one arithmetic of the product tiles.
type kernelPath int

const (
	// pathGeneric is the pure-Go tiles (separate multiply and add unless
	// the Go compiler fuses them, see ArithmeticPath).
	pathGeneric kernelPath = iota
	// pathAVX2 is the 256-bit assembly tiles: eight lane sums per
	// dot-product output.
	pathAVX2
	// pathAVX512 is the 512-bit outer-product tiles for every K: one FMA
	// chain per output over k in order (so other bits than pathAVX2's
	// where K ≥ smallK, the same below).
	pathAVX512
)

var pathNames = [...]string{pathGeneric: "generic", pathAVX2: "avx2-fma", pathAVX512: "avx512"}

func (p kernelPath) String() string { return pathNames[p] }

// ArithmeticPath names the float32 arithmetic of this process's engine:
// the architecture (with its Go code-generation level where that changes
// rounding) and the kernels' path: "avx512" for the 512-bit tiles,
// "avx2-fma" for the 256-bit ones, "generic" for the pure-Go ones. Two
// processes with the same path compute byte-identical products; with
// different paths the last bits can differ (one chain over k or eight
// lane sums; fused multiply-add rounds once, a separate multiply and add
// twice; on arm64, and on amd64 built with GOAMD64=v3 or higher, the Go
// compiler fuses x*y+z in Go code too).
//
// Every cache key of bytes the embedded engine computes includes it, so a
// cache shared between machines never serves one path's outputs to
// another as if identical.
func ArithmeticPath() string {
	return runtime.GOARCH + goLevel + "-" + kernels.String()
}

// Kernels lists the kernel paths this build and CPU can run, portable
// first, widest last (the default): "generic", then where available
// "avx2-fma" and "avx512".
func Kernels() []string {
	var names []string
	for _, p := range available() {
		names = append(names, p.String())
	}
	return names
}

// UseKernels switches the product tiles to the named path (one of
// Kernels) and returns the previous one. Nothing in crossin's commands
// calls it; tests use it to compute every arithmetic path this machine has
// in one process, and must restore the setting. An unknown or unavailable
// name panics: it is a programming error.
func UseKernels(name string) (prev string) {
	prev = kernels.String()
	for _, p := range available() {
		if p.String() == name {
			kernels = p
			return prev
		}
	}
	panic(fmt.Sprintf("tensor.UseKernels(%q): this build and CPU run only %v", name, Kernels()))
}

// HasAssembly reports whether this build and CPU can run assembly tiles
// (false under the noasm build tag).
func HasAssembly() bool { return len(available()) > 1 }

// UseAssembly turns the assembly tiles on (the widest this CPU has) or off
// (the generic path) and returns whether they were on.
func UseAssembly(on bool) (prev bool) {
	prev = kernels != pathGeneric
	ks := available()
	if on {
		kernels = ks[len(ks)-1]
	} else {
		kernels = pathGeneric
	}
	return prev
}

// InPlaceLayouts reports whether MatMulNN and MatMulTN read their operands
// in place on the current path (the AVX-512 path) rather than transposing
// them into scratch first. Either way they give the bits of MatMulNT on
// the transposed operands, so a caller that keeps transposed copies of
// constant matrices (to spare the per-call transpose) can drop them where
// this is true, and the bytes stay the same.
func InPlaceLayouts() bool { return kernels == pathAVX512 }
