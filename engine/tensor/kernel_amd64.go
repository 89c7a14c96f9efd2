//go:build !noasm

package tensor

import "golang.org/x/sys/cpu"

// hasAsm reports whether this CPU can run the assembly tiles.
var hasAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// useAVX2 selects the assembly tiles; the switch (setAVX2) lets tests run
// both paths in one process.
var useAVX2 = hasAsm

// asmPath names the assembly tiles' arithmetic in ArithmeticPath.
const asmPath = "avx2-fma"

//go:noescape
func dot3x4AVX2(a *float32, b *float32, k int, k8 int, out *[12]float32)

//go:noescape
func dot1x4AVX2(a *float32, b *float32, k int, k8 int, out *[12]float32)

func kernel3x4(a, b []float32, k, k8 int, out *[12]float32) {
	if useAVX2 && k8 > 0 {
		_ = a[2*k+k8-1]
		_ = b[3*k+k8-1]
		dot3x4AVX2(&a[0], &b[0], k, k8, out)
		return
	}
	kernelGo(a, b, k, k8, 3, out)
}

func kernel1x4(a, b []float32, k, k8 int, out *[12]float32) {
	if useAVX2 && k8 > 0 {
		_ = a[k8-1]
		_ = b[3*k+k8-1]
		dot1x4AVX2(&a[0], &b[0], k, k8, out)
		return
	}
	kernelGo(a, b, k, k8, 1, out)
}

func setAVX2(on bool) { useAVX2 = on && hasAsm }

//go:noescape
func outer6x16AVX2(a *float32, lda int, b *float32, k int, out *[96]float32)

func kernelOuter(a []float32, lda int, bp []float32, k int, out *[96]float32) {
	if useAVX2 && k > 0 {
		_ = a[5*lda+k-1]
		_ = bp[16*k-1]
		outer6x16AVX2(&a[0], lda, &bp[0], k, out)
		return
	}
	outerGo(a, lda, bp, k, out)
}

//go:noescape
func outer1x16AVX2(a *float32, b *float32, k int, out *[96]float32)

func kernelOuter1(a []float32, bp []float32, k int, out *[96]float32) {
	if useAVX2 && k > 0 {
		_ = a[k-1]
		_ = bp[16*k-1]
		outer1x16AVX2(&a[0], &bp[0], k, out)
		return
	}
	outerGo1(a, bp, k, out)
}
