//go:build !amd64 || noasm

package tensor

func rotateHalvesAsm(x, cos, sin []float32) { panic("unreachable") }
