#include "textflag.h"

// Reduce the 8 lanes of Y<n> as ((l0+l4)+(l1+l5)) + ((l2+l6)+(l3+l7)) and
// store the sum to off(DX). Clobbers X15.
#define HSUM(Y, X, off) \
	VEXTRACTF128 $1, Y, X15; \
	VADDPS       X15, X, X;  \
	VHADDPS      X, X, X;    \
	VHADDPS      X, X, X;    \
	VMOVSS       X, off(DX)

// func dot3x4AVX2(a *float32, b *float32, k int, k8 int, out *[12]float32)
// out[r*4+q] = Σ_{p<k8} a[r*k+p]·b[q*k+p] for r<3, q<4, eight lanes per sum.
TEXT ·dot3x4AVX2(SB), NOSPLIT, $0-40
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ k+16(FP), R8
	MOVQ k8+24(FP), CX
	MOVQ out+32(FP), DX
	SHLQ $2, R8             // row stride in bytes
	LEAQ (R8)(R8*2), R10    // 3 rows
	SHRQ $3, CX             // groups of 8
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

loop3:
	VMOVUPS (SI), Y12
	VMOVUPS (SI)(R8*1), Y13
	VMOVUPS (SI)(R8*2), Y14
	VMOVUPS (DI), Y15
	VFMADD231PS Y15, Y12, Y0
	VFMADD231PS Y15, Y13, Y4
	VFMADD231PS Y15, Y14, Y8
	VMOVUPS (DI)(R8*1), Y15
	VFMADD231PS Y15, Y12, Y1
	VFMADD231PS Y15, Y13, Y5
	VFMADD231PS Y15, Y14, Y9
	VMOVUPS (DI)(R8*2), Y15
	VFMADD231PS Y15, Y12, Y2
	VFMADD231PS Y15, Y13, Y6
	VFMADD231PS Y15, Y14, Y10
	VMOVUPS (DI)(R10*1), Y15
	VFMADD231PS Y15, Y12, Y3
	VFMADD231PS Y15, Y13, Y7
	VFMADD231PS Y15, Y14, Y11
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  loop3

	HSUM(Y0, X0, 0)
	HSUM(Y1, X1, 4)
	HSUM(Y2, X2, 8)
	HSUM(Y3, X3, 12)
	HSUM(Y4, X4, 16)
	HSUM(Y5, X5, 20)
	HSUM(Y6, X6, 24)
	HSUM(Y7, X7, 28)
	HSUM(Y8, X8, 32)
	HSUM(Y9, X9, 36)
	HSUM(Y10, X10, 40)
	HSUM(Y11, X11, 44)
	VZEROUPPER
	RET

// func dot1x4AVX2(a *float32, b *float32, k int, k8 int, out *[12]float32)
// The one-row tile: out[q] = Σ_{p<k8} a[p]·b[q*k+p], same arithmetic per sum.
TEXT ·dot1x4AVX2(SB), NOSPLIT, $0-40
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ k+16(FP), R8
	MOVQ k8+24(FP), CX
	MOVQ out+32(FP), DX
	SHLQ $2, R8
	LEAQ (R8)(R8*2), R10
	SHRQ $3, CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

loop1:
	VMOVUPS (SI), Y12
	VFMADD231PS (DI), Y12, Y0
	VFMADD231PS (DI)(R8*1), Y12, Y1
	VFMADD231PS (DI)(R8*2), Y12, Y2
	VFMADD231PS (DI)(R10*1), Y12, Y3
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  loop1

	HSUM(Y0, X0, 0)
	HSUM(Y1, X1, 4)
	HSUM(Y2, X2, 8)
	HSUM(Y3, X3, 12)
	VZEROUPPER
	RET
