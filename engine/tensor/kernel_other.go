//go:build !amd64 || noasm

// The pure-Go tiles: on every architecture without assembly tiles, and
// everywhere under the noasm build tag (as gonum's), which CI uses to test
// the portable path on amd64 too.

package tensor

// kernels is always the generic path here; the variable lets UseKernels
// and ArithmeticPath read the same way on every build.
var kernels = pathGeneric

func available() []kernelPath { return []kernelPath{pathGeneric} }

func kernel3x4(a, b []float32, k, k8 int, out *[12]float32) { kernelGo(a, b, k, k8, 3, out) }

func kernel1x4(a, b []float32, k, k8 int, out *[12]float32) { kernelGo(a, b, k, k8, 1, out) }

// operand is a matrix seen as rows over k (used by the AVX-512 path only).
type operand struct {
	d      []float32
	rs, cs int
}

func (Threads) wide([]float32, int, int, int, operand, operand, bool) bool { return false }

func wideTasks(int, int) (int, bool) { return 0, false }

func kernelOuter(a []float32, lda int, bp []float32, k int, out *[96]float32) {
	outerGo(a, lda, bp, k, out)
}

func kernelOuter1(a []float32, bp []float32, k int, out *[96]float32) { outerGo1(a, bp, k, out) }
