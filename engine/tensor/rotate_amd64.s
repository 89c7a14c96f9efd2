//go:build !noasm

#include "textflag.h"

// func rotateHalvesAVX2(x, cos, sin *float32, blocks, half int)
// For each of blocks blocks of 2*half floats at x (half a positive
// multiple of 8): a = a*cos - b*sin, b = b*cos + a*sin lane-wise, with a
// the block's first half and b its second; every product is rounded
// before the difference or sum, as in the Go loop.
TEXT ·rotateHalvesAVX2(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), DI
	MOVQ cos+8(FP), R8
	MOVQ sin+16(FP), R9
	MOVQ blocks+24(FP), R10
	MOVQ half+32(FP), R11
	MOVQ R11, R12
	SHLQ $2, R12           // bytes per half
	SHRQ $3, R11           // 8-lane steps per half

rhBlock:
	MOVQ DI, SI            // a
	LEAQ (DI)(R12*1), DX   // b
	MOVQ R8, AX            // cos
	MOVQ R9, BX            // sin
	MOVQ R11, CX

rhLoop:
	VMOVUPS (SI), Y0       // a
	VMOVUPS (DX), Y1       // b
	VMOVUPS (AX), Y2       // cos
	VMOVUPS (BX), Y3       // sin
	VMULPS  Y2, Y0, Y4     // a*cos
	VMULPS  Y3, Y1, Y5     // b*sin
	VSUBPS  Y5, Y4, Y4     // a*cos - b*sin
	VMULPS  Y2, Y1, Y6     // b*cos
	VMULPS  Y3, Y0, Y7     // a*sin
	VADDPS  Y7, Y6, Y6     // b*cos + a*sin
	VMOVUPS Y4, (SI)
	VMOVUPS Y6, (DX)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, AX
	ADDQ    $32, BX
	DECQ    CX
	JNZ     rhLoop
	LEAQ    (DI)(R12*2), DI
	DECQ    R10
	JNZ     rhBlock
	VZEROUPPER
	RET
