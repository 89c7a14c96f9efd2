//go:build !noasm

#include "textflag.h"
#include "sum4_amd64.h"

DATA nsOne<>+0(SB)/4, $0x3f800000
GLOBL nsOne<>(SB), RODATA|NOPTR, $4

// func sumSquaresAVX2(x *float32, n int) float64
// 0 + x[0]² + x[1]² + ... in float64 for i < n (a positive multiple of
// 8); each square is exact, the adds are in index order.
TEXT ·sumSquaresAVX2(SB), NOSPLIT, $0-24
	MOVQ   x+0(FP), SI
	MOVQ   n+8(FP), CX
	VXORPD X9, X9, X9
	SHRQ   $3, CX

ssLoop:
	VCVTPS2PD (SI), Y0
	VCVTPS2PD 16(SI), Y1
	VMULPD    Y0, Y0, Y0
	VMULPD    Y1, Y1, Y1
	SUM4(Y0, X0, X9, X8)
	SUM4(Y1, X1, X9, X8)
	ADDQ      $32, SI
	DECQ      CX
	JNZ       ssLoop
	VZEROUPPER
	MOVSD     X9, ret+16(FP)
	RET

// func normScaleAVX2(dst, x, w *float32, n int, r float32, plusOne bool)
// For i < n (a positive multiple of 8): dst[i] = w[i]*(x[i]*r), or
// (x[i]*r)*(1+w[i]) when plusOne, each operation rounded.
TEXT ·normScaleAVX2(SB), NOSPLIT, $0-37
	MOVQ         dst+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         w+16(FP), DX
	MOVQ         n+24(FP), CX
	VBROADCASTSS r+32(FP), Y15
	VBROADCASTSS nsOne<>(SB), Y14
	MOVBLZX      plusOne+36(FP), AX
	SHRQ         $3, CX
	TESTQ        AX, AX
	JNZ          nsPlusOne

nsLoop:
	VMOVUPS (SI), Y0
	VMULPS  Y15, Y0, Y0    // x*r
	VMOVUPS (DX), Y1
	VMULPS  Y0, Y1, Y1     // w*(x*r)
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     nsLoop
	VZEROUPPER
	RET

nsPlusOne:
	VMOVUPS (SI), Y0
	VMULPS  Y15, Y0, Y0    // x*r
	VMOVUPS (DX), Y1
	VADDPS  Y14, Y1, Y1    // 1+w
	VMULPS  Y1, Y0, Y0     // (x*r)*(1+w)
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     nsPlusOne
	VZEROUPPER
	RET
