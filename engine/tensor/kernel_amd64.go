//go:build !noasm

package tensor

import "golang.org/x/sys/cpu"

// The kernels this CPU can run: AVX2 with FMA for the 256-bit tiles;
// AVX-512 F (ZMM state enabled by the OS, which x/sys/cpu checks) for the
// 512-bit ones.
var (
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	hasAVX512 = hasAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL
)

// kernels is the path in use: the widest this CPU has, unless a test
// switched it (UseKernels).
var kernels = bestKernels()

func bestKernels() kernelPath {
	switch {
	case hasAVX512:
		return pathAVX512
	case hasAVX2:
		return pathAVX2
	}
	return pathGeneric
}

func available() []kernelPath {
	p := []kernelPath{pathGeneric}
	if hasAVX2 {
		p = append(p, pathAVX2)
	}
	if hasAVX512 {
		p = append(p, pathAVX512)
	}
	return p
}

//go:noescape
func dot3x4AVX2(a *float32, b *float32, k int, k8 int, out *[12]float32)

//go:noescape
func dot1x4AVX2(a *float32, b *float32, k int, k8 int, out *[12]float32)

func kernel3x4(a, b []float32, k, k8 int, out *[12]float32) {
	if kernels != pathGeneric && k8 > 0 {
		_ = a[2*k+k8-1]
		_ = b[3*k+k8-1]
		dot3x4AVX2(&a[0], &b[0], k, k8, out)
		return
	}
	kernelGo(a, b, k, k8, 3, out)
}

func kernel1x4(a, b []float32, k, k8 int, out *[12]float32) {
	if kernels != pathGeneric && k8 > 0 {
		_ = a[k8-1]
		_ = b[3*k+k8-1]
		dot1x4AVX2(&a[0], &b[0], k, k8, out)
		return
	}
	kernelGo(a, b, k, k8, 1, out)
}

//go:noescape
func outer6x16AVX2(a *float32, lda int, b *float32, k int, out *[96]float32)

func kernelOuter(a []float32, lda int, bp []float32, k int, out *[96]float32) {
	if kernels != pathGeneric && k > 0 {
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
	if kernels != pathGeneric && k > 0 {
		_ = a[k-1]
		_ = bp[16*k-1]
		outer1x16AVX2(&a[0], &bp[0], k, out)
		return
	}
	outerGo1(a, bp, k, out)
}

// wide runs the product on the AVX-512 path (outer512_amd64.go) and
// reports whether it did; a, b are A and B as operands of m and n rows
// over k.
func (t Threads) wide(c []float32, m, n, k int, a, b operand, acc bool) bool {
	if kernels != pathAVX512 {
		return false
	}
	t.gemm512(c, m, n, k, a, b, acc)
	return true
}

// wideTasks is the task count of an m×n product on the AVX-512 path with
// two workers, or false on the other paths.
func wideTasks(m, n int) (int, bool) {
	if kernels != pathAVX512 {
		return 0, false
	}
	return newPlan512(m, n, operand{}, operand{}, 2).tasks, true
}
