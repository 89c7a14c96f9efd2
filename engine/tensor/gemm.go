// Package tensor holds the float32 kernels of the embedded engine: a
// matrix product in the three layouts training needs and parallel loops.
//
// Determinism: every element of a product is computed by one fixed
// sequence of operations that depends only on the element's row of A, its
// row of B, K and the kernel path (ArithmeticPath), never on M, N or the
// other rows: callers may compute any subset of rows (an LM head at a few
// positions) and get the same bits. For K ≥ smallK the dot-product tiles
// keep lane sums over k (8 on the AVX2 and generic paths, 16 on the
// AVX-512 path), reduce them by a fixed tree, then add the tail of k in
// order. For K < smallK, where those reductions would cost as much as the
// products, outer-product tiles over a packed panel of B compute one
// multiply-add chain over k in order instead (the same FMA chain on both
// assembly paths). The work is split into tiles of C whose partition does
// not depend on the number of goroutines, and tiles never share an output,
// so results are byte-identical for any GOMAXPROCS.
//
// On amd64 the inner tiles run in assembly: AVX-512 (6×4 and 1×4
// dot-product) where the CPU has it, AVX2 with FMA (3×4 and 1×4
// dot-product, 6×16 and 1×16 outer-product) otherwise; elsewhere pure-Go
// kernels do the AVX2 path's arithmetic (with separate multiply and add,
// so the last bits can differ from the FMA path). Kernels and UseKernels
// let tests run every path in one process. MatMulNN and MatMulTN transpose
// their operands into pooled scratch and reuse the NT kernels.
package tensor

import (
	"fmt"
	"sync"
)

// Tile sizes of the parallel decomposition. They are constants so that the
// partition (and hence the results) never depends on the thread count.
const (
	blockM = 96 // rows of A per task (multiple of 3)
	blockN = 64 // rows of B per task (multiple of 4)
	// smallK selects the outer-product kernel (see the package comment).
	smallK = 160
	// serialWork is the m*n*k below which a product runs on the caller's
	// goroutine: spawning costs more than it saves.
	serialWork = 1 << 17
)

// MatMulNT computes C[m×n] = A[m×k]·B[n×k]ᵀ, or adds it to C when
// accumulate is true. All matrices are dense row-major. This is the layout
// of a linear layer y = x·Wᵀ with W stored [out, in]. It runs on up to
// GOMAXPROCS goroutines; Threads(n).MatMulNT on at most n.
func MatMulNT(c, a, b []float32, m, n, k int, accumulate bool) {
	Threads(0).MatMulNT(c, a, b, m, n, k, accumulate)
}

// MatMulNT is the package's MatMulNT on at most t goroutines.
func (t Threads) MatMulNT(c, a, b []float32, m, n, k int, accumulate bool) {
	checkLen("MatMulNT", c, a, b, m*n, m*k, n*k)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		if !accumulate {
			clear(c[:m*n])
		}
		return
	}
	mt, tasks := ntTasks(m, n)
	tile := pickTile(k)
	run := func(i int) {
		i0 := (i % mt) * blockM
		j0 := (i / mt) * blockN
		tile(c, a, b, m, n, k, i0, min(i0+blockM, m), j0, min(j0+blockN, n), accumulate)
	}
	workers := t.workers()
	if !RunsParallel(m, n, k) {
		workers = 1
	}
	forEach(workers, tasks, run)
}

// tileFunc computes rows [i0,i1) × columns [j0,j1) of C = A·Bᵀ.
type tileFunc func(c, a, b []float32, m, n, k, i0, i1, j0, j1 int, acc bool)

// pickTile chooses the tile by K alone, so that an element's arithmetic
// never depends on how many rows share its product.
func pickTile(k int) tileFunc {
	if k < smallK {
		return outerTile
	}
	return dotTile()
}

// ntTasks returns the row tiles and all tiles of an m×n product.
func ntTasks(m, n int) (mt, tasks int) {
	mt = (m + blockM - 1) / blockM
	nt := (n + blockN - 1) / blockN
	return mt, mt * nt
}

// RunsParallel reports whether an m×n×k product (any of the three layouts)
// is split over several goroutines when more than one may run. Tests of
// determinism across thread counts use it to prove their shapes exercise
// the parallel split rather than the serial path of small products.
func RunsParallel(m, n, k int) bool {
	_, tasks := ntTasks(m, n)
	return tasks > 1 && m*n*k >= serialWork
}

// ntTile computes rows [i0,i1) × columns [j0,j1) of C = A·Bᵀ.
func ntTile(c, a, b []float32, m, n, k, i0, i1, j0, j1 int, acc bool) {
	k8 := k &^ 7
	var out [12]float32
	var padB []float32 // zero-padded copy of the last, partial group of B rows
	for j := j0; j < j1; j += 4 {
		nb := min(4, j1-j)
		bp := b[j*k:]
		if nb < 4 {
			if padB == nil {
				padB = make([]float32, 4*k)
			}
			clear(padB)
			copy(padB, b[j*k:(j+nb)*k])
			bp = padB
		}
		i := i0
		for ; i+3 <= i1; i += 3 {
			kernel3x4(a[i*k:], bp, k, k8, &out)
			tail(a[i*k:], bp, k, k8, 3, &out)
			store(c, n, i, j, 3, nb, &out, acc)
		}
		for ; i < i1; i++ {
			kernel1x4(a[i*k:], bp, k, k8, &out)
			tail(a[i*k:], bp, k, k8, 1, &out)
			store(c, n, i, j, 1, nb, &out, acc)
		}
	}
}

// outerTile computes rows [i0,i1) × columns [j0,j1) of C = A·Bᵀ for small
// K: it packs B's rows j0..j1 as 16-wide panels of Bᵀ (zero-padded), then
// runs 6×16 register tiles down the rows of A.
func outerTile(c, a, b []float32, m, n, k, i0, i1, j0, j1 int, acc bool) {
	np := (j1 - j0 + 15) / 16
	bp := getScratch(np * 16 * k)
	clear(bp)
	for j := j0; j < j1; j++ {
		jj := j - j0
		panel := bp[(jj/16)*16*k:]
		col := jj % 16
		row := b[j*k : j*k+k]
		for p, v := range row {
			panel[p*16+col] = v
		}
	}
	var out [96]float32
	put := func(i, nr, q int) {
		jb := j0 + q*16
		nc := min(16, j1-jb)
		for r := 0; r < nr; r++ {
			row := c[(i+r)*n+jb : (i+r)*n+jb+nc]
			o := out[r*16 : r*16+nc]
			if acc {
				for x := range row {
					row[x] += o[x]
				}
			} else {
				copy(row, o)
			}
		}
	}
	i := i0
	for ; i+6 <= i1; i += 6 {
		for q := 0; q < np; q++ {
			kernelOuter(a[i*k:], k, bp[q*16*k:(q+1)*16*k], k, &out)
			put(i, 6, q)
		}
	}
	// Leftover rows one at a time, with the same per-element arithmetic.
	for ; i < i1; i++ {
		for q := 0; q < np; q++ {
			kernelOuter1(a[i*k:], bp[q*16*k:(q+1)*16*k], k, &out)
			put(i, 1, q)
		}
	}
	putScratch(bp)
}

// outerGo1 is the portable one-row outer-product tile.
func outerGo1(a, bp []float32, k int, out *[96]float32) {
	o := out[:16]
	clear(o)
	for p, x := range a[:k] {
		bq := bp[p*16 : p*16+16]
		for j := range o {
			o[j] += x * bq[j]
		}
	}
}

// outerGo is the portable 6×16 outer-product tile.
func outerGo(a []float32, lda int, bp []float32, k int, out *[96]float32) {
	for r := 0; r < 6; r++ {
		ar := a[r*lda : r*lda+k]
		o := out[r*16 : r*16+16]
		clear(o)
		for p, x := range ar {
			bq := bp[p*16 : p*16+16]
			for j := range o {
				o[j] += x * bq[j]
			}
		}
	}
}

// tail adds the k%8 trailing products, in order, to the tile sums.
func tail(a, b []float32, k, k8, rows int, out *[12]float32) { tailN(a, b, k, k8, rows, out[:]) }

// tailN adds the products past kv (the vectorised part of k), in order, to
// the sums out[r*4+q] of a rows×4 tile.
func tailN(a, b []float32, k, kv, rows int, out []float32) {
	if kv == k {
		return
	}
	for r := 0; r < rows; r++ {
		ar := a[r*k : r*k+k]
		for q := 0; q < 4; q++ {
			br := b[q*k : q*k+k]
			s := out[r*4+q]
			for p := kv; p < k; p++ {
				s += ar[p] * br[p]
			}
			out[r*4+q] = s
		}
	}
}

func store(c []float32, n, i, j, rows, cols int, out *[12]float32, acc bool) {
	storeN(c, n, i, j, rows, cols, out[:], acc)
}

// storeN writes (or adds) the rows×cols corner of a rows×4 tile to C.
func storeN(c []float32, n, i, j, rows, cols int, out []float32, acc bool) {
	for r := 0; r < rows; r++ {
		row := c[(i+r)*n+j : (i+r)*n+j+cols]
		o := out[r*4 : r*4+cols]
		if acc {
			for q := range row {
				row[q] += o[q]
			}
		} else {
			copy(row, o)
		}
	}
}

// kernelGo3x4 is the portable 3×4 tile: out[r*4+q] = Σ_{p<k8} a_r[p]·b_q[p]
// with eight lane sums reduced as ((l0+l4)+(l1+l5)) + ((l2+l6)+(l3+l7)),
// the order the AVX2 kernel uses.
func kernelGo(a, b []float32, k, k8, rows int, out *[12]float32) {
	for r := 0; r < rows; r++ {
		ar := a[r*k : r*k+k8]
		for q := 0; q < 4; q++ {
			br := b[q*k : q*k+k8]
			var l [8]float32
			for p := 0; p < k8; p += 8 {
				l[0] += ar[p] * br[p]
				l[1] += ar[p+1] * br[p+1]
				l[2] += ar[p+2] * br[p+2]
				l[3] += ar[p+3] * br[p+3]
				l[4] += ar[p+4] * br[p+4]
				l[5] += ar[p+5] * br[p+5]
				l[6] += ar[p+6] * br[p+6]
				l[7] += ar[p+7] * br[p+7]
			}
			out[r*4+q] = ((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7]))
		}
	}
}

// MatMulNN computes C[m×n] (+)= A[m×k]·B[k×n]. B is transposed into a
// scratch buffer first so the product runs through the NT kernel (the
// transpose is O(k·n), negligible beside the O(m·n·k) product).
func MatMulNN(c, a, b []float32, m, n, k int, accumulate bool) {
	Threads(0).MatMulNN(c, a, b, m, n, k, accumulate)
}

// MatMulNN is the package's MatMulNN on at most t goroutines.
func (t Threads) MatMulNN(c, a, b []float32, m, n, k int, accumulate bool) {
	checkLen("MatMulNN", c, a, b, m*n, m*k, k*n)
	bt := getScratch(n * k)
	Transpose(bt, b, k, n)
	t.MatMulNT(c, a, bt, m, n, k, accumulate)
	putScratch(bt)
}

// MatMulTN computes C[m×n] (+)= A[k×m]ᵀ·B[k×n] (the weight-gradient
// layout: dW = dYᵀ·X). Both operands are transposed into scratch.
func MatMulTN(c, a, b []float32, m, n, k int, accumulate bool) {
	Threads(0).MatMulTN(c, a, b, m, n, k, accumulate)
}

// MatMulTN is the package's MatMulTN on at most t goroutines.
func (t Threads) MatMulTN(c, a, b []float32, m, n, k int, accumulate bool) {
	checkLen("MatMulTN", c, a, b, m*n, k*m, k*n)
	at := getScratch(m * k)
	bt := getScratch(n * k)
	Transpose(at, a, k, m)
	Transpose(bt, b, k, n)
	t.MatMulNT(c, at, bt, m, n, k, accumulate)
	putScratch(at)
	putScratch(bt)
}

// Transpose writes the transpose of src[rows×cols] into dst[cols×rows].
func Transpose(dst, src []float32, rows, cols int) {
	if len(src) < rows*cols || len(dst) < rows*cols {
		panic(fmt.Sprintf("tensor.Transpose: buffers of %d and %d elements for %d×%d", len(src), len(dst), rows, cols))
	}
	const t = 32
	for i0 := 0; i0 < rows; i0 += t {
		for j0 := 0; j0 < cols; j0 += t {
			for i := i0; i < min(i0+t, rows); i++ {
				for j := j0; j < min(j0+t, cols); j++ {
					dst[j*rows+i] = src[i*cols+j]
				}
			}
		}
	}
}

var scratch sync.Pool

func getScratch(n int) []float32 {
	if p, ok := scratch.Get().(*[]float32); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]float32, n)
}

func putScratch(s []float32) { scratch.Put(&s) }

// checkLen panics on a programming error (a buffer shorter than its
// declared shape): these are internal invariants, not input validation.
func checkLen(op string, c, a, b []float32, nc, na, nb int) {
	if len(c) < nc || len(a) < na || len(b) < nb {
		panic(fmt.Sprintf("tensor.%s: buffers C %d, A %d, B %d elements, shapes need %d, %d, %d", op, len(c), len(a), len(b), nc, na, nb))
	}
}
