//go:build ignore

// gen_outer512 writes outer512_amd64.s, the AVX-512 outer-product tiles and
// 16×16 transpose (go generate ./engine/tensor). The text comes from
// package outer512asm, whose test fails when the checked-in file differs
// from what this program would write.
//
// Usage:
//
//	go run gen_outer512.go [-o outer512_amd64.s]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/crossin-lab/crossin/engine/tensor/internal/outer512asm"
)

func main() {
	out := flag.String("o", "outer512_amd64.s", "file to write")
	flag.Parse()
	if err := os.WriteFile(*out, outer512asm.Generate(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gen_outer512:", err)
		os.Exit(1)
	}
}
