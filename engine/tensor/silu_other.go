//go:build !amd64 || noasm

package tensor

func siluMulAsm(g, u []float32) { panic("unreachable") }
