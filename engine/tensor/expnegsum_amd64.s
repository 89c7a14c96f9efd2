//go:build !noasm

#include "textflag.h"
#include "sum4_amd64.h"

// The vector form of ExpNeg and of the max and sum around it (expsum.go).
// Every lane does exactly the float32 operations of the Go code, unfused
// and in its order (x*log2e, +0.5, floor, x-fn*c1, -fn*c2, the Horner
// steps, p*r*r+r+1, ×2^fn), so each result has the Go code's bits; the
// float64 sum stays one chain of scalar adds in index order.

// Each constant is eight copies of one float32 (or int32), one YMM load.

DATA expLog2e<>+0(SB)/4, $0x3fb8aa3b
DATA expLog2e<>+4(SB)/4, $0x3fb8aa3b
DATA expLog2e<>+8(SB)/4, $0x3fb8aa3b
DATA expLog2e<>+12(SB)/4, $0x3fb8aa3b
DATA expLog2e<>+16(SB)/4, $0x3fb8aa3b
DATA expLog2e<>+20(SB)/4, $0x3fb8aa3b
DATA expLog2e<>+24(SB)/4, $0x3fb8aa3b
DATA expLog2e<>+28(SB)/4, $0x3fb8aa3b
GLOBL expLog2e<>(SB), RODATA|NOPTR, $32

DATA expHalf<>+0(SB)/4, $0x3f000000
DATA expHalf<>+4(SB)/4, $0x3f000000
DATA expHalf<>+8(SB)/4, $0x3f000000
DATA expHalf<>+12(SB)/4, $0x3f000000
DATA expHalf<>+16(SB)/4, $0x3f000000
DATA expHalf<>+20(SB)/4, $0x3f000000
DATA expHalf<>+24(SB)/4, $0x3f000000
DATA expHalf<>+28(SB)/4, $0x3f000000
GLOBL expHalf<>(SB), RODATA|NOPTR, $32

DATA expC1<>+0(SB)/4, $0x3f318000
DATA expC1<>+4(SB)/4, $0x3f318000
DATA expC1<>+8(SB)/4, $0x3f318000
DATA expC1<>+12(SB)/4, $0x3f318000
DATA expC1<>+16(SB)/4, $0x3f318000
DATA expC1<>+20(SB)/4, $0x3f318000
DATA expC1<>+24(SB)/4, $0x3f318000
DATA expC1<>+28(SB)/4, $0x3f318000
GLOBL expC1<>(SB), RODATA|NOPTR, $32

DATA expC2<>+0(SB)/4, $0xb95e8083
DATA expC2<>+4(SB)/4, $0xb95e8083
DATA expC2<>+8(SB)/4, $0xb95e8083
DATA expC2<>+12(SB)/4, $0xb95e8083
DATA expC2<>+16(SB)/4, $0xb95e8083
DATA expC2<>+20(SB)/4, $0xb95e8083
DATA expC2<>+24(SB)/4, $0xb95e8083
DATA expC2<>+28(SB)/4, $0xb95e8083
GLOBL expC2<>(SB), RODATA|NOPTR, $32

DATA expP0<>+0(SB)/4, $0x39506967
DATA expP0<>+4(SB)/4, $0x39506967
DATA expP0<>+8(SB)/4, $0x39506967
DATA expP0<>+12(SB)/4, $0x39506967
DATA expP0<>+16(SB)/4, $0x39506967
DATA expP0<>+20(SB)/4, $0x39506967
DATA expP0<>+24(SB)/4, $0x39506967
DATA expP0<>+28(SB)/4, $0x39506967
GLOBL expP0<>(SB), RODATA|NOPTR, $32

DATA expP1<>+0(SB)/4, $0x3ab743ce
DATA expP1<>+4(SB)/4, $0x3ab743ce
DATA expP1<>+8(SB)/4, $0x3ab743ce
DATA expP1<>+12(SB)/4, $0x3ab743ce
DATA expP1<>+16(SB)/4, $0x3ab743ce
DATA expP1<>+20(SB)/4, $0x3ab743ce
DATA expP1<>+24(SB)/4, $0x3ab743ce
DATA expP1<>+28(SB)/4, $0x3ab743ce
GLOBL expP1<>(SB), RODATA|NOPTR, $32

DATA expP2<>+0(SB)/4, $0x3c088908
DATA expP2<>+4(SB)/4, $0x3c088908
DATA expP2<>+8(SB)/4, $0x3c088908
DATA expP2<>+12(SB)/4, $0x3c088908
DATA expP2<>+16(SB)/4, $0x3c088908
DATA expP2<>+20(SB)/4, $0x3c088908
DATA expP2<>+24(SB)/4, $0x3c088908
DATA expP2<>+28(SB)/4, $0x3c088908
GLOBL expP2<>(SB), RODATA|NOPTR, $32

DATA expP3<>+0(SB)/4, $0x3d2aa9c1
DATA expP3<>+4(SB)/4, $0x3d2aa9c1
DATA expP3<>+8(SB)/4, $0x3d2aa9c1
DATA expP3<>+12(SB)/4, $0x3d2aa9c1
DATA expP3<>+16(SB)/4, $0x3d2aa9c1
DATA expP3<>+20(SB)/4, $0x3d2aa9c1
DATA expP3<>+24(SB)/4, $0x3d2aa9c1
DATA expP3<>+28(SB)/4, $0x3d2aa9c1
GLOBL expP3<>(SB), RODATA|NOPTR, $32

DATA expP4<>+0(SB)/4, $0x3e2aaaaa
DATA expP4<>+4(SB)/4, $0x3e2aaaaa
DATA expP4<>+8(SB)/4, $0x3e2aaaaa
DATA expP4<>+12(SB)/4, $0x3e2aaaaa
DATA expP4<>+16(SB)/4, $0x3e2aaaaa
DATA expP4<>+20(SB)/4, $0x3e2aaaaa
DATA expP4<>+24(SB)/4, $0x3e2aaaaa
DATA expP4<>+28(SB)/4, $0x3e2aaaaa
GLOBL expP4<>(SB), RODATA|NOPTR, $32

DATA expP5<>+0(SB)/4, $0x3f000000
DATA expP5<>+4(SB)/4, $0x3f000000
DATA expP5<>+8(SB)/4, $0x3f000000
DATA expP5<>+12(SB)/4, $0x3f000000
DATA expP5<>+16(SB)/4, $0x3f000000
DATA expP5<>+20(SB)/4, $0x3f000000
DATA expP5<>+24(SB)/4, $0x3f000000
DATA expP5<>+28(SB)/4, $0x3f000000
GLOBL expP5<>(SB), RODATA|NOPTR, $32

DATA expOne<>+0(SB)/4, $0x3f800000
DATA expOne<>+4(SB)/4, $0x3f800000
DATA expOne<>+8(SB)/4, $0x3f800000
DATA expOne<>+12(SB)/4, $0x3f800000
DATA expOne<>+16(SB)/4, $0x3f800000
DATA expOne<>+20(SB)/4, $0x3f800000
DATA expOne<>+24(SB)/4, $0x3f800000
DATA expOne<>+28(SB)/4, $0x3f800000
GLOBL expOne<>(SB), RODATA|NOPTR, $32

DATA expM87<>+0(SB)/4, $0xc2ae0000
DATA expM87<>+4(SB)/4, $0xc2ae0000
DATA expM87<>+8(SB)/4, $0xc2ae0000
DATA expM87<>+12(SB)/4, $0xc2ae0000
DATA expM87<>+16(SB)/4, $0xc2ae0000
DATA expM87<>+20(SB)/4, $0xc2ae0000
DATA expM87<>+24(SB)/4, $0xc2ae0000
DATA expM87<>+28(SB)/4, $0xc2ae0000
GLOBL expM87<>(SB), RODATA|NOPTR, $32

DATA exp127<>+0(SB)/4, $0x0000007f
DATA exp127<>+4(SB)/4, $0x0000007f
DATA exp127<>+8(SB)/4, $0x0000007f
DATA exp127<>+12(SB)/4, $0x0000007f
DATA exp127<>+16(SB)/4, $0x0000007f
DATA exp127<>+20(SB)/4, $0x0000007f
DATA exp127<>+24(SB)/4, $0x0000007f
DATA exp127<>+28(SB)/4, $0x0000007f
GLOBL exp127<>(SB), RODATA|NOPTR, $32

DATA expNegInf<>+0(SB)/4, $0xff800000
DATA expNegInf<>+4(SB)/4, $0xff800000
DATA expNegInf<>+8(SB)/4, $0xff800000
DATA expNegInf<>+12(SB)/4, $0xff800000
DATA expNegInf<>+16(SB)/4, $0xff800000
DATA expNegInf<>+20(SB)/4, $0xff800000
DATA expNegInf<>+24(SB)/4, $0xff800000
DATA expNegInf<>+28(SB)/4, $0xff800000
GLOBL expNegInf<>(SB), RODATA|NOPTR, $32

// func expNegSumAVX2(dst *float32, src *float32, n int, m float32, store int) float64
// For i < n (a positive multiple of 8): e = ExpNeg(src[i]-m), stored to
// dst[i] when store != 0, and returns 0 + e[0] + e[1] + ... in float64.
TEXT ·expNegSumAVX2(SB), NOSPLIT, $0-48
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS m+24(FP), Y10
	MOVQ         store+32(FP), DX
	VMOVUPS      expM87<>(SB), Y11
	VMOVUPS      expLog2e<>(SB), Y12
	VMOVUPS      expHalf<>(SB), Y13
	VMOVUPS      expC1<>(SB), Y14
	VMOVUPS      expC2<>(SB), Y15
	VXORPD       X9, X9, X9
	SHRQ         $3, CX

expLoop:
	VMOVUPS    (SI), Y0
	VSUBPS     Y10, Y0, Y0       // x = v - m
	VCMPPS     $1, Y11, Y0, Y1   // x < -87: the result is 0
	VMULPS     Y12, Y0, Y2       // x*log2e
	VADDPS     Y13, Y2, Y2       // + 0.5
	VROUNDPS   $1, Y2, Y2        // fn = floor
	VMULPS     Y14, Y2, Y5
	VSUBPS     Y5, Y0, Y3        // r = x - fn*c1
	VMULPS     Y15, Y2, Y5
	VSUBPS     Y5, Y3, Y3        // r -= fn*c2
	VMOVUPS    expP0<>(SB), Y4
	VMULPS     Y3, Y4, Y4
	VADDPS     expP1<>(SB), Y4, Y4
	VMULPS     Y3, Y4, Y4
	VADDPS     expP2<>(SB), Y4, Y4
	VMULPS     Y3, Y4, Y4
	VADDPS     expP3<>(SB), Y4, Y4
	VMULPS     Y3, Y4, Y4
	VADDPS     expP4<>(SB), Y4, Y4
	VMULPS     Y3, Y4, Y4
	VADDPS     expP5<>(SB), Y4, Y4
	VMULPS     Y3, Y4, Y4        // p*r
	VMULPS     Y3, Y4, Y4        // p*r*r
	VADDPS     Y3, Y4, Y4        // + r
	VADDPS     expOne<>(SB), Y4, Y4 // + 1
	VCVTTPS2DQ Y2, Y6
	VPADDD     exp127<>(SB), Y6, Y6
	VPSLLD     $23, Y6, Y6       // 2^fn
	VMULPS     Y6, Y4, Y4
	VANDNPS    Y4, Y1, Y4
	TESTQ      DX, DX
	JZ         expNoStore
	VMOVUPS    Y4, (DI)

expNoStore:
	SUM8(Y4, X4, Y7, X7, X9, X8)
	ADDQ         $32, SI
	ADDQ         $32, DI
	DECQ         CX
	JNZ          expLoop
	VZEROUPPER
	MOVSD        X9, ret+40(FP)
	RET

// func maxAVX2(src *float32, n int) (m float32, nan bool)
// The maximum of src[:n] (n a positive multiple of 32) ignoring NaNs, and
// whether there was a NaN.
TEXT ·maxAVX2(SB), NOSPLIT, $0-21
	MOVQ    src+0(FP), SI
	MOVQ    n+8(FP), CX
	SHRQ    $5, CX
	VMOVUPS expNegInf<>(SB), Y0
	VMOVUPS Y0, Y1
	VMOVUPS Y0, Y2
	VMOVUPS Y0, Y3
	VXORPS  Y9, Y9, Y9

maxLoop:
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VCMPPS  $3, Y4, Y4, Y8
	VORPS   Y8, Y9, Y9
	VCMPPS  $3, Y5, Y5, Y8
	VORPS   Y8, Y9, Y9
	VCMPPS  $3, Y6, Y6, Y8
	VORPS   Y8, Y9, Y9
	VCMPPS  $3, Y7, Y7, Y8
	VORPS   Y8, Y9, Y9
	VMAXPS  Y4, Y0, Y0
	VMAXPS  Y5, Y1, Y1
	VMAXPS  Y6, Y2, Y2
	VMAXPS  Y7, Y3, Y3
	ADDQ    $128, SI
	DECQ    CX
	JNZ     maxLoop
	VMAXPS       Y1, Y0, Y0
	VMAXPS       Y3, Y2, Y2
	VMAXPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0x4e, X0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0xb1, X0, X1
	VMAXPS       X1, X0, X0
	VMOVSS       X0, m+16(FP)
	VMOVMSKPS    Y9, AX
	TESTL        AX, AX
	SETNE        nan+20(FP)
	VZEROUPPER
	RET
