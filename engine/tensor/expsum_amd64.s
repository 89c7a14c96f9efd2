//go:build !noasm

#include "textflag.h"
#include "sum4_amd64.h"

// The vector form of Exp for softmax rows (expsum.go): each lane does the
// Go code's operations in its order and precision (x*log2e in float32,
// the float32 Taylor polynomial, the two-step scaling of subnormal
// results, the range checks), so every result has Exp's bits; the float64
// sum stays one chain of scalar adds in index order.
//
// Exp rounds n = floor(float64(t)+0.5), which is floor(t+0.5) exactly (no
// float32 t lies within 2⁻⁵⁴ of a half-integer without being one). The
// lanes get the same integer without leaving float32: fl = floor(t),
// d = t - fl, n = fl + 1 where d ≥ 0.5, else fl + 0. d is exact by
// Sterbenz's lemma except for -0.5 < t < 0, where t + 1 may round but
// stays within [0.5, 1], so the comparison still holds; a zero n comes
// out +0, as from floor. TestExpVectorAllArguments and TestExpHalfIntegers
// check it (the SiLU gate below shares the lanes: EXP8).

DATA xpLog2e<>+0(SB)/4, $0x3fb8aa3b
DATA xpLog2e<>+4(SB)/4, $0x3fb8aa3b
DATA xpLog2e<>+8(SB)/4, $0x3fb8aa3b
DATA xpLog2e<>+12(SB)/4, $0x3fb8aa3b
DATA xpLog2e<>+16(SB)/4, $0x3fb8aa3b
DATA xpLog2e<>+20(SB)/4, $0x3fb8aa3b
DATA xpLog2e<>+24(SB)/4, $0x3fb8aa3b
DATA xpLog2e<>+28(SB)/4, $0x3fb8aa3b
GLOBL xpLog2e<>(SB), RODATA|NOPTR, $32

DATA xpLn2hi<>+0(SB)/4, $0x3f317200
DATA xpLn2hi<>+4(SB)/4, $0x3f317200
DATA xpLn2hi<>+8(SB)/4, $0x3f317200
DATA xpLn2hi<>+12(SB)/4, $0x3f317200
DATA xpLn2hi<>+16(SB)/4, $0x3f317200
DATA xpLn2hi<>+20(SB)/4, $0x3f317200
DATA xpLn2hi<>+24(SB)/4, $0x3f317200
DATA xpLn2hi<>+28(SB)/4, $0x3f317200
GLOBL xpLn2hi<>(SB), RODATA|NOPTR, $32

DATA xpLn2lo<>+0(SB)/4, $0x35bfbe8e
DATA xpLn2lo<>+4(SB)/4, $0x35bfbe8e
DATA xpLn2lo<>+8(SB)/4, $0x35bfbe8e
DATA xpLn2lo<>+12(SB)/4, $0x35bfbe8e
DATA xpLn2lo<>+16(SB)/4, $0x35bfbe8e
DATA xpLn2lo<>+20(SB)/4, $0x35bfbe8e
DATA xpLn2lo<>+24(SB)/4, $0x35bfbe8e
DATA xpLn2lo<>+28(SB)/4, $0x35bfbe8e
GLOBL xpLn2lo<>(SB), RODATA|NOPTR, $32

DATA xpC2<>+0(SB)/4, $0x3f000000
DATA xpC2<>+4(SB)/4, $0x3f000000
DATA xpC2<>+8(SB)/4, $0x3f000000
DATA xpC2<>+12(SB)/4, $0x3f000000
DATA xpC2<>+16(SB)/4, $0x3f000000
DATA xpC2<>+20(SB)/4, $0x3f000000
DATA xpC2<>+24(SB)/4, $0x3f000000
DATA xpC2<>+28(SB)/4, $0x3f000000
GLOBL xpC2<>(SB), RODATA|NOPTR, $32

DATA xpC6<>+0(SB)/4, $0x3e2aaaab
DATA xpC6<>+4(SB)/4, $0x3e2aaaab
DATA xpC6<>+8(SB)/4, $0x3e2aaaab
DATA xpC6<>+12(SB)/4, $0x3e2aaaab
DATA xpC6<>+16(SB)/4, $0x3e2aaaab
DATA xpC6<>+20(SB)/4, $0x3e2aaaab
DATA xpC6<>+24(SB)/4, $0x3e2aaaab
DATA xpC6<>+28(SB)/4, $0x3e2aaaab
GLOBL xpC6<>(SB), RODATA|NOPTR, $32

DATA xpC24<>+0(SB)/4, $0x3d2aaaab
DATA xpC24<>+4(SB)/4, $0x3d2aaaab
DATA xpC24<>+8(SB)/4, $0x3d2aaaab
DATA xpC24<>+12(SB)/4, $0x3d2aaaab
DATA xpC24<>+16(SB)/4, $0x3d2aaaab
DATA xpC24<>+20(SB)/4, $0x3d2aaaab
DATA xpC24<>+24(SB)/4, $0x3d2aaaab
DATA xpC24<>+28(SB)/4, $0x3d2aaaab
GLOBL xpC24<>(SB), RODATA|NOPTR, $32

DATA xpC120<>+0(SB)/4, $0x3c088889
DATA xpC120<>+4(SB)/4, $0x3c088889
DATA xpC120<>+8(SB)/4, $0x3c088889
DATA xpC120<>+12(SB)/4, $0x3c088889
DATA xpC120<>+16(SB)/4, $0x3c088889
DATA xpC120<>+20(SB)/4, $0x3c088889
DATA xpC120<>+24(SB)/4, $0x3c088889
DATA xpC120<>+28(SB)/4, $0x3c088889
GLOBL xpC120<>(SB), RODATA|NOPTR, $32

DATA xpC720<>+0(SB)/4, $0x3ab60b61
DATA xpC720<>+4(SB)/4, $0x3ab60b61
DATA xpC720<>+8(SB)/4, $0x3ab60b61
DATA xpC720<>+12(SB)/4, $0x3ab60b61
DATA xpC720<>+16(SB)/4, $0x3ab60b61
DATA xpC720<>+20(SB)/4, $0x3ab60b61
DATA xpC720<>+24(SB)/4, $0x3ab60b61
DATA xpC720<>+28(SB)/4, $0x3ab60b61
GLOBL xpC720<>(SB), RODATA|NOPTR, $32

DATA xpC5040<>+0(SB)/4, $0x39500d01
DATA xpC5040<>+4(SB)/4, $0x39500d01
DATA xpC5040<>+8(SB)/4, $0x39500d01
DATA xpC5040<>+12(SB)/4, $0x39500d01
DATA xpC5040<>+16(SB)/4, $0x39500d01
DATA xpC5040<>+20(SB)/4, $0x39500d01
DATA xpC5040<>+24(SB)/4, $0x39500d01
DATA xpC5040<>+28(SB)/4, $0x39500d01
GLOBL xpC5040<>(SB), RODATA|NOPTR, $32

DATA xpHi<>+0(SB)/4, $0x42b17217
DATA xpHi<>+4(SB)/4, $0x42b17217
DATA xpHi<>+8(SB)/4, $0x42b17217
DATA xpHi<>+12(SB)/4, $0x42b17217
DATA xpHi<>+16(SB)/4, $0x42b17217
DATA xpHi<>+20(SB)/4, $0x42b17217
DATA xpHi<>+24(SB)/4, $0x42b17217
DATA xpHi<>+28(SB)/4, $0x42b17217
GLOBL xpHi<>(SB), RODATA|NOPTR, $32

DATA xpLo<>+0(SB)/4, $0xc2cff0a4
DATA xpLo<>+4(SB)/4, $0xc2cff0a4
DATA xpLo<>+8(SB)/4, $0xc2cff0a4
DATA xpLo<>+12(SB)/4, $0xc2cff0a4
DATA xpLo<>+16(SB)/4, $0xc2cff0a4
DATA xpLo<>+20(SB)/4, $0xc2cff0a4
DATA xpLo<>+24(SB)/4, $0xc2cff0a4
DATA xpLo<>+28(SB)/4, $0xc2cff0a4
GLOBL xpLo<>(SB), RODATA|NOPTR, $32

DATA xpOne<>+0(SB)/4, $0x3f800000
DATA xpOne<>+4(SB)/4, $0x3f800000
DATA xpOne<>+8(SB)/4, $0x3f800000
DATA xpOne<>+12(SB)/4, $0x3f800000
DATA xpOne<>+16(SB)/4, $0x3f800000
DATA xpOne<>+20(SB)/4, $0x3f800000
DATA xpOne<>+24(SB)/4, $0x3f800000
DATA xpOne<>+28(SB)/4, $0x3f800000
GLOBL xpOne<>(SB), RODATA|NOPTR, $32

DATA xpInf<>+0(SB)/4, $0x7f800000
DATA xpInf<>+4(SB)/4, $0x7f800000
DATA xpInf<>+8(SB)/4, $0x7f800000
DATA xpInf<>+12(SB)/4, $0x7f800000
DATA xpInf<>+16(SB)/4, $0x7f800000
DATA xpInf<>+20(SB)/4, $0x7f800000
DATA xpInf<>+24(SB)/4, $0x7f800000
DATA xpInf<>+28(SB)/4, $0x7f800000
GLOBL xpInf<>(SB), RODATA|NOPTR, $32

DATA xp127<>+0(SB)/4, $0x0000007f
DATA xp127<>+4(SB)/4, $0x0000007f
DATA xp127<>+8(SB)/4, $0x0000007f
DATA xp127<>+12(SB)/4, $0x0000007f
DATA xp127<>+16(SB)/4, $0x0000007f
DATA xp127<>+20(SB)/4, $0x0000007f
DATA xp127<>+24(SB)/4, $0x0000007f
DATA xp127<>+28(SB)/4, $0x0000007f
GLOBL xp127<>(SB), RODATA|NOPTR, $32

DATA xp126<>+0(SB)/4, $0x0000007e
DATA xp126<>+4(SB)/4, $0x0000007e
DATA xp126<>+8(SB)/4, $0x0000007e
DATA xp126<>+12(SB)/4, $0x0000007e
DATA xp126<>+16(SB)/4, $0x0000007e
DATA xp126<>+20(SB)/4, $0x0000007e
DATA xp126<>+24(SB)/4, $0x0000007e
DATA xp126<>+28(SB)/4, $0x0000007e
GLOBL xp126<>(SB), RODATA|NOPTR, $32

DATA xpM126<>+0(SB)/4, $0xffffff82
DATA xpM126<>+4(SB)/4, $0xffffff82
DATA xpM126<>+8(SB)/4, $0xffffff82
DATA xpM126<>+12(SB)/4, $0xffffff82
DATA xpM126<>+16(SB)/4, $0xffffff82
DATA xpM126<>+20(SB)/4, $0xffffff82
DATA xpM126<>+24(SB)/4, $0xffffff82
DATA xpM126<>+28(SB)/4, $0xffffff82
GLOBL xpM126<>(SB), RODATA|NOPTR, $32

DATA xpTiny<>+0(SB)/4, $0x00800000
DATA xpTiny<>+4(SB)/4, $0x00800000
DATA xpTiny<>+8(SB)/4, $0x00800000
DATA xpTiny<>+12(SB)/4, $0x00800000
DATA xpTiny<>+16(SB)/4, $0x00800000
DATA xpTiny<>+20(SB)/4, $0x00800000
DATA xpTiny<>+24(SB)/4, $0x00800000
DATA xpTiny<>+28(SB)/4, $0x00800000
GLOBL xpTiny<>(SB), RODATA|NOPTR, $32

DATA xpSign<>+0(SB)/4, $0x80000000
DATA xpSign<>+4(SB)/4, $0x80000000
DATA xpSign<>+8(SB)/4, $0x80000000
DATA xpSign<>+12(SB)/4, $0x80000000
DATA xpSign<>+16(SB)/4, $0x80000000
DATA xpSign<>+20(SB)/4, $0x80000000
DATA xpSign<>+24(SB)/4, $0x80000000
DATA xpSign<>+28(SB)/4, $0x80000000
GLOBL xpSign<>(SB), RODATA|NOPTR, $32

// EXP8 is Exp on the eight lanes of Y0 into Y10, as the comment at the top
// of this file explains: Y1 (x > hi) and Y2 (x < lo) are the range masks,
// Y3-Y9, Y11 and Y12 scratch; Y13 must hold xpM126. The softmax pass and
// the SiLU gate share it.
#define EXP8 \
	VCMPPS       $0x1e, xpHi<>(SB), Y0, Y1; \
	VCMPPS       $0x11, xpLo<>(SB), Y0, Y2; \
	VMULPS       xpLog2e<>(SB), Y0, Y3; \
	VROUNDPS     $1, Y3, Y4; \
	VSUBPS       Y4, Y3, Y5; \
	VCMPPS       $0x1d, xpC2<>(SB), Y5, Y5; \
	VANDPS       xpOne<>(SB), Y5, Y5; \
	VADDPS       Y5, Y4, Y4; \
	VMULPS       xpLn2hi<>(SB), Y4, Y5; \
	VSUBPS       Y5, Y0, Y6; \
	VMULPS       xpLn2lo<>(SB), Y4, Y5; \
	VSUBPS       Y5, Y6, Y6; \
	VMULPS       xpC5040<>(SB), Y6, Y7; \
	VADDPS       xpC720<>(SB), Y7, Y7; \
	VMULPS       Y6, Y7, Y7; \
	VADDPS       xpC120<>(SB), Y7, Y7; \
	VMULPS       Y6, Y7, Y7; \
	VADDPS       xpC24<>(SB), Y7, Y7; \
	VMULPS       Y6, Y7, Y7; \
	VADDPS       xpC6<>(SB), Y7, Y7; \
	VMULPS       Y6, Y7, Y7; \
	VADDPS       xpC2<>(SB), Y7, Y7; \
	VMULPS       Y6, Y7, Y7; \
	VADDPS       xpOne<>(SB), Y7, Y7; \
	VMULPS       Y6, Y7, Y7; \
	VADDPS       xpOne<>(SB), Y7, Y7; \
	VCVTTPS2DQ   Y4, Y8; \
	VPCMPGTD     Y8, Y13, Y12; \
	VPAND        xp126<>(SB), Y12, Y9; \
	VPADDD       Y9, Y8, Y9; \
	VPADDD       xp127<>(SB), Y9, Y9; \
	VPSLLD       $23, Y9, Y9; \
	VMULPS       Y9, Y7, Y10; \
	VMOVUPS      xpOne<>(SB), Y11; \
	VBLENDVPS    Y12, xpTiny<>(SB), Y11, Y11; \
	VMULPS       Y11, Y10, Y10; \
	VANDNPS      Y10, Y2, Y10; \
	VBLENDVPS    Y1, xpInf<>(SB), Y10, Y10; \
	VCMPPS       $3, Y0, Y0, Y12; \
	VBLENDVPS    Y12, Y0, Y10, Y10

// func expSumAVX2(dst *float32, src *float32, n int, m float32) float64
// For i < n (a positive multiple of 8): e = Exp(src[i]-m) stored to
// dst[i]; returns 0 + e[0] + e[1] + ... in float64.
TEXT ·expSumAVX2(SB), NOSPLIT, $0-40
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS m+24(FP), Y15
	VMOVUPS      xpM126<>(SB), Y13
	VXORPD       X14, X14, X14
	SHRQ         $3, CX

xpLoop:
	VMOVUPS      (SI), Y0
	VSUBPS       Y15, Y0, Y0             // x = v - m
	EXP8
	VMOVUPS      Y10, (DI)
	SUM8(Y10, X10, Y5, X5, X14, X3)
	ADDQ         $32, SI
	ADDQ         $32, DI
	DECQ         CX
	JNZ          xpLoop
	VZEROUPPER
	MOVSD        X14, ret+32(FP)
	RET

// func siluMulAVX2(gate *float32, up *float32, n int)
// The vector SiLU gate of silu.go: for i < n (a positive multiple of 8),
// g[i] = g[i]/(1+Exp(-g[i])) * u[i]. Exp runs lane-wise as in expSumAVX2
// (EXP8), then the add, divide and multiply are the scalar code's float32
// operations in its order, so every result has the Go loop's bits.
TEXT ·siluMulAVX2(SB), NOSPLIT, $0-24
	MOVQ    gate+0(FP), DI
	MOVQ    up+8(FP), SI
	MOVQ    n+16(FP), CX
	VMOVUPS xpM126<>(SB), Y13
	VMOVUPS xpSign<>(SB), Y15
	SHRQ    $3, CX

slLoop:
	VMOVUPS (DI), Y14               // v
	VXORPS  Y15, Y14, Y0            // x = -v
	EXP8                            // e = Exp(-v)
	VADDPS  xpOne<>(SB), Y10, Y10   // 1 + e
	VDIVPS  Y10, Y14, Y10           // v / (1 + e)
	VMULPS  (SI), Y10, Y10          // · u
	VMOVUPS Y10, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     slLoop
	VZEROUPPER
	RET
