//go:build !noasm

#include "textflag.h"

// The vector SiLU gate of silu.go: g[i] = g[i] / (1 + Exp(-g[i])) · u[i].
// Exp runs lane-wise exactly as in expsum_amd64.s (x*log2e in float32,
// floor(t+0.5) found in float32 as explained there, the float32 Taylor
// polynomial, the two-step scaling of subnormal results, the range
// checks), then the add, divide and multiply are the scalar code's float32
// operations in its order, so every result has the Go loop's bits.

DATA slLog2e<>+0(SB)/4, $0x3fb8aa3b
DATA slLog2e<>+4(SB)/4, $0x3fb8aa3b
DATA slLog2e<>+8(SB)/4, $0x3fb8aa3b
DATA slLog2e<>+12(SB)/4, $0x3fb8aa3b
DATA slLog2e<>+16(SB)/4, $0x3fb8aa3b
DATA slLog2e<>+20(SB)/4, $0x3fb8aa3b
DATA slLog2e<>+24(SB)/4, $0x3fb8aa3b
DATA slLog2e<>+28(SB)/4, $0x3fb8aa3b
GLOBL slLog2e<>(SB), RODATA|NOPTR, $32

DATA slLn2hi<>+0(SB)/4, $0x3f317200
DATA slLn2hi<>+4(SB)/4, $0x3f317200
DATA slLn2hi<>+8(SB)/4, $0x3f317200
DATA slLn2hi<>+12(SB)/4, $0x3f317200
DATA slLn2hi<>+16(SB)/4, $0x3f317200
DATA slLn2hi<>+20(SB)/4, $0x3f317200
DATA slLn2hi<>+24(SB)/4, $0x3f317200
DATA slLn2hi<>+28(SB)/4, $0x3f317200
GLOBL slLn2hi<>(SB), RODATA|NOPTR, $32

DATA slLn2lo<>+0(SB)/4, $0x35bfbe8e
DATA slLn2lo<>+4(SB)/4, $0x35bfbe8e
DATA slLn2lo<>+8(SB)/4, $0x35bfbe8e
DATA slLn2lo<>+12(SB)/4, $0x35bfbe8e
DATA slLn2lo<>+16(SB)/4, $0x35bfbe8e
DATA slLn2lo<>+20(SB)/4, $0x35bfbe8e
DATA slLn2lo<>+24(SB)/4, $0x35bfbe8e
DATA slLn2lo<>+28(SB)/4, $0x35bfbe8e
GLOBL slLn2lo<>(SB), RODATA|NOPTR, $32

DATA slC2<>+0(SB)/4, $0x3f000000
DATA slC2<>+4(SB)/4, $0x3f000000
DATA slC2<>+8(SB)/4, $0x3f000000
DATA slC2<>+12(SB)/4, $0x3f000000
DATA slC2<>+16(SB)/4, $0x3f000000
DATA slC2<>+20(SB)/4, $0x3f000000
DATA slC2<>+24(SB)/4, $0x3f000000
DATA slC2<>+28(SB)/4, $0x3f000000
GLOBL slC2<>(SB), RODATA|NOPTR, $32

DATA slC6<>+0(SB)/4, $0x3e2aaaab
DATA slC6<>+4(SB)/4, $0x3e2aaaab
DATA slC6<>+8(SB)/4, $0x3e2aaaab
DATA slC6<>+12(SB)/4, $0x3e2aaaab
DATA slC6<>+16(SB)/4, $0x3e2aaaab
DATA slC6<>+20(SB)/4, $0x3e2aaaab
DATA slC6<>+24(SB)/4, $0x3e2aaaab
DATA slC6<>+28(SB)/4, $0x3e2aaaab
GLOBL slC6<>(SB), RODATA|NOPTR, $32

DATA slC24<>+0(SB)/4, $0x3d2aaaab
DATA slC24<>+4(SB)/4, $0x3d2aaaab
DATA slC24<>+8(SB)/4, $0x3d2aaaab
DATA slC24<>+12(SB)/4, $0x3d2aaaab
DATA slC24<>+16(SB)/4, $0x3d2aaaab
DATA slC24<>+20(SB)/4, $0x3d2aaaab
DATA slC24<>+24(SB)/4, $0x3d2aaaab
DATA slC24<>+28(SB)/4, $0x3d2aaaab
GLOBL slC24<>(SB), RODATA|NOPTR, $32

DATA slC120<>+0(SB)/4, $0x3c088889
DATA slC120<>+4(SB)/4, $0x3c088889
DATA slC120<>+8(SB)/4, $0x3c088889
DATA slC120<>+12(SB)/4, $0x3c088889
DATA slC120<>+16(SB)/4, $0x3c088889
DATA slC120<>+20(SB)/4, $0x3c088889
DATA slC120<>+24(SB)/4, $0x3c088889
DATA slC120<>+28(SB)/4, $0x3c088889
GLOBL slC120<>(SB), RODATA|NOPTR, $32

DATA slC720<>+0(SB)/4, $0x3ab60b61
DATA slC720<>+4(SB)/4, $0x3ab60b61
DATA slC720<>+8(SB)/4, $0x3ab60b61
DATA slC720<>+12(SB)/4, $0x3ab60b61
DATA slC720<>+16(SB)/4, $0x3ab60b61
DATA slC720<>+20(SB)/4, $0x3ab60b61
DATA slC720<>+24(SB)/4, $0x3ab60b61
DATA slC720<>+28(SB)/4, $0x3ab60b61
GLOBL slC720<>(SB), RODATA|NOPTR, $32

DATA slC5040<>+0(SB)/4, $0x39500d01
DATA slC5040<>+4(SB)/4, $0x39500d01
DATA slC5040<>+8(SB)/4, $0x39500d01
DATA slC5040<>+12(SB)/4, $0x39500d01
DATA slC5040<>+16(SB)/4, $0x39500d01
DATA slC5040<>+20(SB)/4, $0x39500d01
DATA slC5040<>+24(SB)/4, $0x39500d01
DATA slC5040<>+28(SB)/4, $0x39500d01
GLOBL slC5040<>(SB), RODATA|NOPTR, $32

DATA slHi<>+0(SB)/4, $0x42b17217
DATA slHi<>+4(SB)/4, $0x42b17217
DATA slHi<>+8(SB)/4, $0x42b17217
DATA slHi<>+12(SB)/4, $0x42b17217
DATA slHi<>+16(SB)/4, $0x42b17217
DATA slHi<>+20(SB)/4, $0x42b17217
DATA slHi<>+24(SB)/4, $0x42b17217
DATA slHi<>+28(SB)/4, $0x42b17217
GLOBL slHi<>(SB), RODATA|NOPTR, $32

DATA slLo<>+0(SB)/4, $0xc2cff0a4
DATA slLo<>+4(SB)/4, $0xc2cff0a4
DATA slLo<>+8(SB)/4, $0xc2cff0a4
DATA slLo<>+12(SB)/4, $0xc2cff0a4
DATA slLo<>+16(SB)/4, $0xc2cff0a4
DATA slLo<>+20(SB)/4, $0xc2cff0a4
DATA slLo<>+24(SB)/4, $0xc2cff0a4
DATA slLo<>+28(SB)/4, $0xc2cff0a4
GLOBL slLo<>(SB), RODATA|NOPTR, $32

DATA slOne<>+0(SB)/4, $0x3f800000
DATA slOne<>+4(SB)/4, $0x3f800000
DATA slOne<>+8(SB)/4, $0x3f800000
DATA slOne<>+12(SB)/4, $0x3f800000
DATA slOne<>+16(SB)/4, $0x3f800000
DATA slOne<>+20(SB)/4, $0x3f800000
DATA slOne<>+24(SB)/4, $0x3f800000
DATA slOne<>+28(SB)/4, $0x3f800000
GLOBL slOne<>(SB), RODATA|NOPTR, $32

DATA slInf<>+0(SB)/4, $0x7f800000
DATA slInf<>+4(SB)/4, $0x7f800000
DATA slInf<>+8(SB)/4, $0x7f800000
DATA slInf<>+12(SB)/4, $0x7f800000
DATA slInf<>+16(SB)/4, $0x7f800000
DATA slInf<>+20(SB)/4, $0x7f800000
DATA slInf<>+24(SB)/4, $0x7f800000
DATA slInf<>+28(SB)/4, $0x7f800000
GLOBL slInf<>(SB), RODATA|NOPTR, $32

DATA sl127<>+0(SB)/4, $0x0000007f
DATA sl127<>+4(SB)/4, $0x0000007f
DATA sl127<>+8(SB)/4, $0x0000007f
DATA sl127<>+12(SB)/4, $0x0000007f
DATA sl127<>+16(SB)/4, $0x0000007f
DATA sl127<>+20(SB)/4, $0x0000007f
DATA sl127<>+24(SB)/4, $0x0000007f
DATA sl127<>+28(SB)/4, $0x0000007f
GLOBL sl127<>(SB), RODATA|NOPTR, $32

DATA sl126<>+0(SB)/4, $0x0000007e
DATA sl126<>+4(SB)/4, $0x0000007e
DATA sl126<>+8(SB)/4, $0x0000007e
DATA sl126<>+12(SB)/4, $0x0000007e
DATA sl126<>+16(SB)/4, $0x0000007e
DATA sl126<>+20(SB)/4, $0x0000007e
DATA sl126<>+24(SB)/4, $0x0000007e
DATA sl126<>+28(SB)/4, $0x0000007e
GLOBL sl126<>(SB), RODATA|NOPTR, $32

DATA slM126<>+0(SB)/4, $0xffffff82
DATA slM126<>+4(SB)/4, $0xffffff82
DATA slM126<>+8(SB)/4, $0xffffff82
DATA slM126<>+12(SB)/4, $0xffffff82
DATA slM126<>+16(SB)/4, $0xffffff82
DATA slM126<>+20(SB)/4, $0xffffff82
DATA slM126<>+24(SB)/4, $0xffffff82
DATA slM126<>+28(SB)/4, $0xffffff82
GLOBL slM126<>(SB), RODATA|NOPTR, $32

DATA slTiny<>+0(SB)/4, $0x00800000
DATA slTiny<>+4(SB)/4, $0x00800000
DATA slTiny<>+8(SB)/4, $0x00800000
DATA slTiny<>+12(SB)/4, $0x00800000
DATA slTiny<>+16(SB)/4, $0x00800000
DATA slTiny<>+20(SB)/4, $0x00800000
DATA slTiny<>+24(SB)/4, $0x00800000
DATA slTiny<>+28(SB)/4, $0x00800000
GLOBL slTiny<>(SB), RODATA|NOPTR, $32

DATA slSign<>+0(SB)/4, $0x80000000
DATA slSign<>+4(SB)/4, $0x80000000
DATA slSign<>+8(SB)/4, $0x80000000
DATA slSign<>+12(SB)/4, $0x80000000
DATA slSign<>+16(SB)/4, $0x80000000
DATA slSign<>+20(SB)/4, $0x80000000
DATA slSign<>+24(SB)/4, $0x80000000
DATA slSign<>+28(SB)/4, $0x80000000
GLOBL slSign<>(SB), RODATA|NOPTR, $32

// func siluMulAVX2(gate *float32, up *float32, n int)
// For i < n (a positive multiple of 8): g[i] = g[i]/(1+Exp(-g[i])) * u[i].
TEXT ·siluMulAVX2(SB), NOSPLIT, $0-24
	MOVQ    gate+0(FP), DI
	MOVQ    up+8(FP), SI
	MOVQ    n+16(FP), CX
	VMOVUPS slM126<>(SB), Y13
	VMOVUPS slSign<>(SB), Y15
	SHRQ    $3, CX

slLoop:
	VMOVUPS      (DI), Y14               // v
	VXORPS       Y15, Y14, Y0            // x = -v
	VCMPPS       $0x1e, slHi<>(SB), Y0, Y1 // x > hi: +Inf
	VCMPPS       $0x11, slLo<>(SB), Y0, Y2 // x < lo: 0
	VMULPS       slLog2e<>(SB), Y0, Y3   // t = x*log2e (float32)
	VROUNDPS     $1, Y3, Y4              // n = floor(float64(t)+0.5), in float32:
	VSUBPS       Y4, Y3, Y5              // fl = floor(t), d = t - fl,
	VCMPPS       $0x1d, slC2<>(SB), Y5, Y5 // n = fl + (d >= 0.5 ? 1 : 0)
	VANDPS       slOne<>(SB), Y5, Y5
	VADDPS       Y5, Y4, Y4
	VMULPS       slLn2hi<>(SB), Y4, Y5
	VSUBPS       Y5, Y0, Y6              // r = x - n*ln2hi
	VMULPS       slLn2lo<>(SB), Y4, Y5
	VSUBPS       Y5, Y6, Y6              // r -= n*ln2lo
	VMULPS       slC5040<>(SB), Y6, Y7   // the Taylor polynomial, innermost first
	VADDPS       slC720<>(SB), Y7, Y7
	VMULPS       Y6, Y7, Y7
	VADDPS       slC120<>(SB), Y7, Y7
	VMULPS       Y6, Y7, Y7
	VADDPS       slC24<>(SB), Y7, Y7
	VMULPS       Y6, Y7, Y7
	VADDPS       slC6<>(SB), Y7, Y7
	VMULPS       Y6, Y7, Y7
	VADDPS       slC2<>(SB), Y7, Y7
	VMULPS       Y6, Y7, Y7
	VADDPS       slOne<>(SB), Y7, Y7
	VMULPS       Y6, Y7, Y7
	VADDPS       slOne<>(SB), Y7, Y7     // p
	VCVTTPS2DQ   Y4, Y8                  // ni
	VPCMPGTD     Y8, Y13, Y12            // ni < -126: a subnormal result,
	VPAND        sl126<>(SB), Y12, Y9    // scaled in two steps:
	VPADDD       Y9, Y8, Y9              // e = ni, or ni+126 there
	VPADDD       sl127<>(SB), Y9, Y9
	VPSLLD       $23, Y9, Y9
	VMULPS       Y9, Y7, Y10             // p * 2^e
	VMOVUPS      slOne<>(SB), Y11
	VBLENDVPS    Y12, slTiny<>(SB), Y11, Y11
	VMULPS       Y11, Y10, Y10           // * 1 (exact), or * 2^-126 there
	VANDNPS      Y10, Y2, Y10
	VBLENDVPS    Y1, slInf<>(SB), Y10, Y10
	VCMPPS       $3, Y0, Y0, Y12         // NaN: x itself
	VBLENDVPS    Y12, Y0, Y10, Y10       // e = Exp(-v)
	VADDPS       slOne<>(SB), Y10, Y10   // 1 + e
	VDIVPS       Y10, Y14, Y10           // v / (1 + e)
	VMULPS       (SI), Y10, Y10          // · u
	VMOVUPS      Y10, (DI)
	ADDQ         $32, SI
	ADDQ         $32, DI
	DECQ         CX
	JNZ          slLoop
	VZEROUPPER
	RET
