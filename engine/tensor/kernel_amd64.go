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

// kernelOuter and kernelOuter1 run on the AVX-512 path too: an
// outer-product tile computes one FMA chain per output, k in order, so its
// bits do not depend on the vector width.
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

//go:noescape
func dot6x4AVX512(a *float32, b *float32, k int, k16 int, out *[24]float32)

//go:noescape
func dot1x4AVX512(a *float32, b *float32, k int, k16 int, out *[24]float32)

// dotTile picks the dot-product tile of the path in use.
func dotTile() tileFunc {
	if kernels == pathAVX512 {
		return ntTile512
	}
	return ntTile
}

// ntTile512 is ntTile on the AVX-512 path: 6×4 and 1×4 tiles of sixteen
// lane sums over k (k mod 16), reduced by the fixed tree documented in
// kernel_amd64.s, then the k%16 tail added in order.
func ntTile512(c, a, b []float32, m, n, k, i0, i1, j0, j1 int, acc bool) {
	k16 := k &^ 15
	if k16 == 0 { // not chosen for such K (pickTile); the assembly needs a group
		outerTile(c, a, b, m, n, k, i0, i1, j0, j1, acc)
		return
	}
	var out [24]float32
	var padB []float32 // zero-padded copy of the last, partial group of B rows
	for j := j0; j < j1; j += 4 {
		nb := min(4, j1-j)
		bp := b[j*k:]
		if nb < 4 {
			if padB == nil {
				padB = make([]float32, 4*k)
			}
			clear(padB)
			copy(padB, b[j*k:(j+nb)*k])
			bp = padB
		}
		_ = bp[3*k+k16-1]
		i := i0
		for ; i+6 <= i1; i += 6 {
			_ = a[i*k+5*k+k16-1]
			dot6x4AVX512(&a[i*k], &bp[0], k, k16, &out)
			tailN(a[i*k:], bp, k, k16, 6, out[:])
			storeN(c, n, i, j, 6, nb, out[:], acc)
		}
		for ; i < i1; i++ {
			_ = a[i*k+k16-1]
			dot1x4AVX512(&a[i*k], &bp[0], k, k16, &out)
			tailN(a[i*k:], bp, k, k16, 1, out[:])
			storeN(c, n, i, j, 1, nb, out[:], acc)
		}
	}
}
