//go:build !amd64 || noasm

package tensor

func sumSquaresAVX2Asm(x []float32) float64 { panic("unreachable") }

func normScaleAsm(dst, x, w []float32, r float32, plusOne bool) { panic("unreachable") }
