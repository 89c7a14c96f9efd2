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

DATA expTwo<>+0(SB)/4, $0x40000000
DATA expTwo<>+4(SB)/4, $0x40000000
DATA expTwo<>+8(SB)/4, $0x40000000
DATA expTwo<>+12(SB)/4, $0x40000000
DATA expTwo<>+16(SB)/4, $0x40000000
DATA expTwo<>+20(SB)/4, $0x40000000
DATA expTwo<>+24(SB)/4, $0x40000000
DATA expTwo<>+28(SB)/4, $0x40000000
GLOBL expTwo<>(SB), RODATA|NOPTR, $32

// EXPNEG8 sets Y4 = ExpNeg(Y0 - m) lane by lane, with m in Y10 and
// log2e in Y12; Y0-Y6 are overwritten. The steps: x = v - m; a mask of
// x < -87 (whose result is 0); fn = floor(x*log2e + 0.5); r = x - fn*c1,
// then r -= fn*c2; the Horner steps p = p*r + P(k); p*r*r + r + 1; times
// 2^fn (fn + 127 shifted into the exponent); zeroed under the mask.
#define EXPNEG8 \
	VSUBPS     Y10, Y0, Y0; \
	VCMPPS     $1, expM87<>(SB), Y0, Y1; \
	VMULPS     Y12, Y0, Y2; \
	VADDPS     expHalf<>(SB), Y2, Y2; \
	VROUNDPS   $1, Y2, Y2; \
	VMULPS     expC1<>(SB), Y2, Y5; \
	VSUBPS     Y5, Y0, Y3; \
	VMULPS     expC2<>(SB), Y2, Y5; \
	VSUBPS     Y5, Y3, Y3; \
	VMOVUPS    expP0<>(SB), Y4; \
	VMULPS     Y3, Y4, Y4; \
	VADDPS     expP1<>(SB), Y4, Y4; \
	VMULPS     Y3, Y4, Y4; \
	VADDPS     expP2<>(SB), Y4, Y4; \
	VMULPS     Y3, Y4, Y4; \
	VADDPS     expP3<>(SB), Y4, Y4; \
	VMULPS     Y3, Y4, Y4; \
	VADDPS     expP4<>(SB), Y4, Y4; \
	VMULPS     Y3, Y4, Y4; \
	VADDPS     expP5<>(SB), Y4, Y4; \
	VMULPS     Y3, Y4, Y4; \
	VMULPS     Y3, Y4, Y4; \
	VADDPS     Y3, Y4, Y4; \
	VADDPS     expOne<>(SB), Y4, Y4; \
	VCVTTPS2DQ Y2, Y6; \
	VPADDD     exp127<>(SB), Y6, Y6; \
	VPSLLD     $23, Y6, Y6; \
	VMULPS     Y6, Y4, Y4; \
	VANDNPS    Y4, Y1, Y4

// func expNegSumAVX2(dst *float32, src *float32, n int, m float32, store int, s0 float64) float64
// For i < n (a positive multiple of 8): e = ExpNeg(src[i]-m), stored to
// dst[i] when store != 0, and returns s0 + e[0] + e[1] + ... in float64,
// one add at a time.
TEXT ·expNegSumAVX2(SB), NOSPLIT, $0-56
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS m+24(FP), Y10
	MOVQ         store+32(FP), DX
	VMOVSD       s0+40(FP), X9
	VMOVUPS      expLog2e<>(SB), Y12
	SHRQ         $3, CX

expLoop:
	VMOVUPS (SI), Y0
	EXPNEG8
	TESTQ   DX, DX
	JZ      expNoStore
	VMOVUPS Y4, (DI)

expNoStore:
	SUM8(Y4, X4, Y7, X7, X9, X8)
	ADDQ         $32, SI
	ADDQ         $32, DI
	DECQ         CX
	JNZ          expLoop
	VZEROUPPER
	MOVSD        X9, ret+48(FP)
	RET

// func expNegSumExactAVX2(dst *float32, src *float32, n int, m float32, store int, thr float32, pf *float32) (s float64, done int)
// The same exponentials over src[:n] (n a positive multiple of 64), summed
// in blocks of 64 with vector adds while every value of a block lies in
// [thr, 2]: then no add rounds (expsum.go, exactThreshold), so the sum is
// the one-add-at-a-time sum's bits. It stops after the first block with a
// value outside (or a NaN) and returns the sum of the blocks before it and
// how many values they hold. That block's values are stored too (store !=
// 0), so the caller, who goes on from there one add at a time, must sum
// them from dst when dst is src. A block's range check keeps the least
// and greatest value as int32 bit patterns: for the non-negative floats
// these order as the values, a NaN or +Inf lies above 2's pattern and
// anything negative (-0 included) below thr's. It prefetches pf, one line
// per iteration, as it goes.
TEXT ·expNegSumExactAVX2(SB), NOSPLIT, $0-72
	MOVQ         pf+48(FP), R10
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS m+24(FP), Y10
	MOVQ         store+32(FP), DX
	VBROADCASTSS thr+40(FP), Y15
	VMOVUPS      expLog2e<>(SB), Y12
	VXORPD       Y7, Y7, Y7 // the sum of the blocks so far, four lanes
	XORQ         R8, R8     // values summed
	SHRQ         $6, CX

exactBlock:
	VXORPD   Y11, Y11, Y11 // this block's sum
	VPCMPEQD Y14, Y14, Y14 // least pattern: all ones (-1)...
	VPSRLD   $1, Y14, Y14  // ...shifted: 0x7fffffff
	VPXOR    Y13, Y13, Y13 // greatest pattern: 0
	MOVQ     $8, BX

exactLoop:
	VMOVUPS (SI), Y0
	PREFETCHT1 (R10)
	EXPNEG8
	TESTQ   DX, DX
	JZ      exactNoStore
	VMOVUPS Y4, (DI)

exactNoStore:
	VPMINSD      Y4, Y14, Y14
	VPMAXSD      Y4, Y13, Y13
	VCVTPS2PD    X4, Y9
	VADDPD       Y9, Y11, Y11
	VEXTRACTF128 $1, Y4, X4
	VCVTPS2PD    X4, Y9
	VADDPD       Y9, Y11, Y11
	ADDQ         $32, SI
	ADDQ         $32, DI
	ADDQ         $32, R10
	DECQ         BX
	JNZ          exactLoop
	VPCMPGTD     Y14, Y15, Y9              // least < thr
	VPCMPGTD     expTwo<>(SB), Y13, Y8     // greatest > 2
	VPOR         Y8, Y9, Y9
	VPTEST       Y9, Y9
	JNZ          exactDone
	VADDPD       Y11, Y7, Y7
	ADDQ         $64, R8
	DECQ         CX
	JNZ          exactBlock

exactDone:
	VEXTRACTF128 $1, Y7, X9
	VADDPD       X9, X7, X7
	VPERMILPD    $1, X7, X9
	VADDSD       X9, X7, X7
	VZEROUPPER
	MOVSD        X7, s+56(FP)
	MOVQ         R8, done+64(FP)
	RET

// EXPNEG16 is EXPNEG8 on sixteen lanes (AVX-512): Z4 = ExpNeg(Z0 - m),
// with m in Z10 and log2e in Z12, the constants broadcast from memory and
// the mask of x < -87 in K1 (its complement, so NaN lanes keep their
// value as under VANDNPS); Z0-Z6 are overwritten. The same operations in
// the same order, lane by lane, so the same bits.
#define EXPNEG16 \
	VSUBPS          Z10, Z0, Z0; \
	VCMPPS.BCST     $5, expM87<>(SB), Z0, K1; \
	VMULPS          Z12, Z0, Z2; \
	VADDPS.BCST     expHalf<>(SB), Z2, Z2; \
	VRNDSCALEPS     $1, Z2, Z2; \
	VMULPS.BCST     expC1<>(SB), Z2, Z5; \
	VSUBPS          Z5, Z0, Z3; \
	VMULPS.BCST     expC2<>(SB), Z2, Z5; \
	VSUBPS          Z5, Z3, Z3; \
	VBROADCASTSS    expP0<>(SB), Z4; \
	VMULPS          Z3, Z4, Z4; \
	VADDPS.BCST     expP1<>(SB), Z4, Z4; \
	VMULPS          Z3, Z4, Z4; \
	VADDPS.BCST     expP2<>(SB), Z4, Z4; \
	VMULPS          Z3, Z4, Z4; \
	VADDPS.BCST     expP3<>(SB), Z4, Z4; \
	VMULPS          Z3, Z4, Z4; \
	VADDPS.BCST     expP4<>(SB), Z4, Z4; \
	VMULPS          Z3, Z4, Z4; \
	VADDPS.BCST     expP5<>(SB), Z4, Z4; \
	VMULPS          Z3, Z4, Z4; \
	VMULPS          Z3, Z4, Z4; \
	VADDPS          Z3, Z4, Z4; \
	VADDPS.BCST     expOne<>(SB), Z4, Z4; \
	VCVTTPS2DQ      Z2, Z6; \
	VPADDD.BCST     exp127<>(SB), Z6, Z6; \
	VPSLLD          $23, Z6, Z6; \
	VMULPS.Z        Z6, Z4, K1, Z4

// func expNegSumExactAVX512(dst *float32, src *float32, n int, m float32, store int, thr float32, pf *float32) (s float64, done int)
// expNegSumExactAVX2 on sixteen lanes, with the same range check.
TEXT ·expNegSumExactAVX512(SB), NOSPLIT, $0-72
	MOVQ         pf+48(FP), R10
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS m+24(FP), Z10
	MOVQ         store+32(FP), DX
	MOVL         thr+40(FP), R9
	VBROADCASTSS expLog2e<>(SB), Z12
	VPXORQ       Z7, Z7, Z7 // the sum of the blocks so far, eight lanes
	XORQ         R8, R8     // values summed
	SHRQ         $6, CX

exact16Block:
	VPXORQ       Z11, Z11, Z11 // this block's sum
	VPTERNLOGD   $0xff, Z14, Z14, Z14 // least pattern: all ones (-1)...
	VPSRLD       $1, Z14, Z14          // ...shifted: 0x7fffffff
	VPXORD       Z15, Z15, Z15         // greatest pattern: 0
	MOVQ         $4, BX

exact16Loop:
	VMOVUPS (SI), Z0
	PREFETCHT1 (R10)
	EXPNEG16
	TESTQ   DX, DX
	JZ      exact16NoStore
	VMOVUPS Z4, (DI)

exact16NoStore:
	VPMINSD        Z4, Z14, Z14
	VPMAXSD        Z4, Z15, Z15
	VCVTPS2PD      Y4, Z9
	VADDPD         Z9, Z11, Z11
	VEXTRACTF64X4  $1, Z4, Y4
	VCVTPS2PD      Y4, Z9
	VADDPD         Z9, Z11, Z11
	ADDQ           $64, SI
	ADDQ           $64, DI
	ADDQ           $64, R10
	DECQ           BX
	JNZ            exact16Loop
	VPBROADCASTD   R9, Z9
	VPCMPD         $1, Z9, Z14, K2 // least < thr
	VPBROADCASTD   expTwo<>(SB), Z9
	VPCMPD         $6, Z9, Z15, K3 // greatest > 2 (NLE)
	KORTESTW       K2, K3
	JNZ            exact16Done
	VADDPD         Z11, Z7, Z7
	ADDQ           $64, R8
	DECQ           CX
	JNZ            exact16Block

exact16Done:
	VEXTRACTF64X4 $1, Z7, Y9
	VADDPD        Y9, Y7, Y7
	VEXTRACTF128  $1, Y7, X9
	VADDPD        X9, X7, X7
	VPERMILPD     $1, X7, X9
	VADDSD        X9, X7, X7
	VZEROUPPER
	MOVSD         X7, s+56(FP)
	MOVQ          R8, done+64(FP)
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
