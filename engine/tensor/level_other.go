//go:build !amd64.v3

package tensor

// goLevel marks builds whose Go code may use FMA (GOAMD64=v3 or higher);
// empty elsewhere, where GOARCH alone fixes the Go code's rounding.
const goLevel = ""
