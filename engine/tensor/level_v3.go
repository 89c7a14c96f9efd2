//go:build amd64.v3

package tensor

// goLevel marks builds whose Go code may use FMA (GOAMD64=v3 or higher).
const goLevel = "v3"
