// SUM4(Y, X, S, T) adds the four float64 lanes of Y (X is its low half)
// to the scalar float64 sum in S, lane 0 first, with T as scratch: the
// in-order float64 sum that the vector passes (expnegsum_amd64.s,
// expsum_amd64.s, norm_amd64.s) keep as one chain, so that their sums
// have the scalar loops' bits.
#define SUM4(Y, X, S, T) \
	VADDSD       X, S, S;    \
	VPERMILPD    $1, X, T;   \
	VADDSD       T, S, S;    \
	VEXTRACTF128 $1, Y, T;   \
	VADDSD       T, S, S;    \
	VPERMILPD    $1, T, T;   \
	VADDSD       T, S, S

// SUM8(V, XV, W, XW, S, T) adds the eight float32 lanes of V (XV its low
// half) to the float64 sum in S, lane 0 first: each half widened into W
// (XW its low half) and added by SUM4. V's low half is overwritten with
// its high half; W and T are scratch.
#define SUM8(V, XV, W, XW, S, T) \
	VCVTPS2PD    XV, W;          \
	SUM4(W, XW, S, T);           \
	VEXTRACTF128 $1, V, XV;      \
	VCVTPS2PD    XV, W;          \
	SUM4(W, XW, S, T)
