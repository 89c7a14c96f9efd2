//go:build !noasm

package tensor

import "sync"

//go:generate sh -c "python3 outer512_gen.py > outer512_amd64.s"

// The AVX-512 path computes every product, whatever K and layout, as
// outer-product tiles: one FMA chain per output element over k in order,
// starting from zero (then added to C when accumulating), the arithmetic
// of the AVX2 outer-product tiles. An element's bits therefore depend on
// its row of A, its row of B and K only, not on which operand is packed,
// on the layout (MatMulNN and MatMulTN give the bits of MatMulNT on the
// transposed operands) or on the blocking over k.
//
// One operand, X, is read in place and broadcast one element at a time
// (12, 4 or 1 rows per tile); the other, Y, is packed per task into
// 32-wide panels of kc512 values of k (zero-padded), which the tiles
// stream. The tile sums go to a per-task scratch block (across the blocks
// of k) and then to C.

//go:noescape
func outer12x32AVX512(x *float32, rs, cs int, y *float32, kc int, t *float32, ldt int, load bool)

//go:noescape
func outer4x32AVX512(x *float32, rs, cs int, y *float32, kc int, t *float32, ldt int, load bool)

//go:noescape
func outer1x32AVX512(x *float32, rs, cs int, y *float32, kc int, t *float32, ldt int, load bool)

const (
	bxMax512  = 768 // most X rows per task
	by512     = 128 // Y rows per task (multiple of pan512)
	kc512     = 256 // values of k per packed block
	pan512    = 32  // Y rows per panel
	swapMaxM  = 192 // below this many rows of A (and at least pan512), pack A
	xRowsTile = 12  // rows of the main tile
)

// operand is a matrix seen as rows over k: element (r, p) is d[r*rs+p*cs].
type operand struct {
	d      []float32
	rs, cs int
}

// plan512 is the decomposition of one product on the AVX-512 path. Unlike
// the other paths' tiles, it may depend on the number of workers: no
// partition changes an element's bits here (each is one chain over k
// wherever it is computed), so it can pack as little as the workers
// allow.
type plan512 struct {
	x, y           operand
	xn, yn         int  // rows of X and Y
	swap           bool // X is B: the tile sums are Cᵀ
	bx             int  // X rows per task
	xTasks, yTasks int
	tasks          int
}

// newPlan512 chooses the packed operand, Y: B, unless A has too few rows
// to reuse a packed panel of B much (but enough to fill panels of its own)
// while B has more. Packing costs one copy per Y value per task, reused by
// the task's X rows, so tasks take as many X rows as a split into one task
// per worker allows.
func newPlan512(m, n int, a, b operand, workers int) plan512 {
	p := plan512{x: a, y: b, xn: m, yn: n}
	if m >= pan512 && m < swapMaxM && n > m {
		p = plan512{x: b, y: a, xn: n, yn: m, swap: true}
	}
	p.yTasks = (p.yn + by512 - 1) / by512
	xt := max((workers+p.yTasks-1)/p.yTasks, (p.xn+bxMax512-1)/bxMax512)
	p.bx = (p.xn + xt - 1) / xt
	p.bx = (p.bx + xRowsTile - 1) / xRowsTile * xRowsTile
	p.bx = min(p.bx, bxMax512)
	p.xTasks = (p.xn + p.bx - 1) / p.bx
	p.tasks = p.xTasks * p.yTasks
	return p
}

// gemm512 computes C[m×n] (+)= A·Bᵀ with A and B given as operands of m
// and n rows over k.
func (t Threads) gemm512(c []float32, m, n, k int, a, b operand, acc bool) {
	workers := t.workers()
	if m*n*k < serialWork {
		workers = 1
	}
	p := newPlan512(m, n, a, b, workers)
	forEach(workers, p.tasks, func(i int) {
		p.task(c, n, k, (i%p.xTasks)*p.bx, (i/p.xTasks)*by512, acc)
	})
}

// task computes X rows [x0, x0+bx) × Y rows [y0, y0+by512) of the product
// into C.
func (p *plan512) task(c []float32, n, k, x0, y0 int, acc bool) {
	xr := min(p.bx, p.xn-x0)
	yr := min(by512, p.yn-y0)
	np := (yr + pan512 - 1) / pan512
	kc := min(kc512, k)
	ypb := ypPool.Get().(*[by512 * kc512]float32)
	tb := tilePool.Get().(*[bxMax512 * by512]float32)
	yp := ypb[:np*pan512*kc]
	tile := tb[:xr*by512]
	x := p.x
	for k0 := 0; k0 < k; k0 += kc512 {
		kb := min(kc512, k-k0)
		p.pack(yp, y0, yr, k0, kb)
		for r := 0; r < xr; {
			rows := 1
			switch {
			case xr-r >= 12:
				rows = 12
			case xr-r >= 4:
				rows = 4
			}
			xo := (x0+r)*x.rs + k0*x.cs
			_ = x.d[xo+(rows-1)*x.rs+(kb-1)*x.cs]
			for q := 0; q < np; q++ {
				yq := yp[q*pan512*kb : (q+1)*pan512*kb]
				to := tile[r*by512+q*pan512 : (r+rows-1)*by512+q*pan512+pan512]
				switch rows {
				case 12:
					outer12x32AVX512(&x.d[xo], x.rs, x.cs, &yq[0], kb, &to[0], by512, k0 > 0)
				case 4:
					outer4x32AVX512(&x.d[xo], x.rs, x.cs, &yq[0], kb, &to[0], by512, k0 > 0)
				default:
					outer1x32AVX512(&x.d[xo], x.rs, x.cs, &yq[0], kb, &to[0], by512, k0 > 0)
				}
			}
			r += rows
		}
	}
	if p.swap {
		storeT(c, n, tile, xr, yr, x0, y0, acc)
	} else {
		for r := 0; r < xr; r++ {
			tr := tile[r*by512 : r*by512+yr]
			row := c[(x0+r)*n+y0 : (x0+r)*n+y0+yr]
			if acc {
				for j, v := range tr {
					row[j] += v
				}
			} else {
				copy(row, tr)
			}
		}
	}
	tilePool.Put(tb)
	ypPool.Put(ypb)
}

// storeT writes (or adds) the transposed tile, C[y0+j][x0+r] = tile[r][j],
// in blocks of 16 rows of C by 64 of the tile: a block's tile lines stay
// in L1 while its rows of C are written in runs.
func storeT(c []float32, n int, tile []float32, xr, yr, x0, y0 int, acc bool) {
	const bj, br = 16, 64
	for j0 := 0; j0 < yr; j0 += bj {
		j1 := min(j0+bj, yr)
		for r0 := 0; r0 < xr; r0 += br {
			r1 := min(r0+br, xr)
			for j := j0; j < j1; j++ {
				row := c[(y0+j)*n+x0+r0 : (y0+j)*n+x0+r1]
				src := tile[r0*by512+j:]
				if acc {
					for i := range row {
						row[i] += src[i*by512]
					}
				} else {
					for i := range row {
						row[i] = src[i*by512]
					}
				}
			}
		}
	}
}

// The per-task scratch: fixed sizes, so pooled buffers always fit.
var (
	ypPool   = sync.Pool{New: func() any { return new([by512 * kc512]float32) }}
	tilePool = sync.Pool{New: func() any { return new([bxMax512 * by512]float32) }}
)

// pack copies Y rows [y0, y0+yr) × k [k0, k0+kb) into 32-wide panels,
// yp[q*32*kb + (p-k0)*32 + j] = Y(y0+32q+j, p), zero past the last row.
func (p *plan512) pack(yp []float32, y0, yr, k0, kb int) {
	y := p.y
	np := (yr + pan512 - 1) / pan512
	yp = yp[:np*pan512*kb]
	if yr%pan512 != 0 {
		clear(yp[(np-1)*pan512*kb:])
	}
	for q := 0; q < np; q++ {
		panel := yp[q*pan512*kb : (q+1)*pan512*kb]
		w := min(pan512, yr-q*pan512)
		r0 := y0 + q*pan512
		if y.rs == 1 {
			// Rows contiguous along a column of k: copy w values per k.
			for pp := 0; pp < kb; pp++ {
				src := y.d[r0+(k0+pp)*y.cs:]
				copy(panel[pp*pan512:pp*pan512+w], src[:w])
			}
			continue
		}
		for j := 0; j < w; j++ {
			src := y.d[(r0+j)*y.rs+k0*y.cs:]
			if y.cs == 1 {
				src = src[:kb]
				for pp, v := range src {
					panel[pp*pan512+j] = v
				}
				continue
			}
			for pp := 0; pp < kb; pp++ {
				panel[pp*pan512+j] = src[pp*y.cs]
			}
		}
	}
}
