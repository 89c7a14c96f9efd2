//go:build !noasm

package tensor

//go:generate go run gen_outer512.go

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
func outer12x32AVX512(x *float32, rs, cs int, y *float32, ldy, kc int, t *float32, ldt int, load bool)

//go:noescape
func outer4x32AVX512(x *float32, rs, cs int, y *float32, ldy, kc int, t *float32, ldt int, load bool)

//go:noescape
func transpose16AVX512(dst *float32, ldd int, src *float32, lds int, acc bool)

//go:noescape
func outer1x32AVX512(x *float32, rs, cs int, y *float32, ldy, kc int, t *float32, ldt int, load bool)

const (
	bxMax512  = 768 // most X rows per task
	by512     = 512 // Y rows per task (multiple of pan512); see below
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

// A task's Y rows, by512, are 16 panels: a strip of X rows then writes
// runs of 2 KB to each of its rows of C rather than 512 B (by512 = 128).
// Where C is far larger than L2 (the LM head's 32k-wide logits) its stores
// miss the cache, and longer runs per row made the 192-row product 1.25×
// faster (12.0 vs 15.0 ms, one core) and the product into the LM head's
// gradient 1.1× (with scratch rows of the task's width, tld).

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
	yp := panels512.Get(np * pan512 * kc)
	defer panels512.Put(yp)
	tld := np * pan512 // the scratch's row stride: the task's panels
	x := p.x
	// With one block of k and nothing to add, the full panels' tiles go
	// straight to C; only a last, partial panel goes through the scratch,
	// which such a task without one does not need.
	direct := k <= kc512 && !p.swap && !acc
	full := 0 // panels stored in C directly
	if direct {
		full = yr / pan512
	}
	var tile []float32
	if full < np {
		tile = tiles512.Get(xr * tld)
		defer tiles512.Put(tile)
	}
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
				var yq *float32
				ldy := pan512
				if p.inPlace(q, yr) {
					o := y0 + q*pan512 + k0*p.y.cs
					_ = p.y.d[o+(kb-1)*p.y.cs+pan512-1]
					yq, ldy = &p.y.d[o], p.y.cs
				} else {
					yq = &yp[q*pan512*kb]
				}
				var to []float32
				var ld int
				if q < full {
					o := (x0+r)*n + y0 + q*pan512
					to, ld = c[o:o+(rows-1)*n+pan512], n
				} else {
					to, ld = tile[r*tld+q*pan512:(r+rows-1)*tld+q*pan512+pan512], tld
				}
				switch rows {
				case 12:
					outer12x32AVX512(&x.d[xo], x.rs, x.cs, yq, ldy, kb, &to[0], ld, k0 > 0)
				case 4:
					outer4x32AVX512(&x.d[xo], x.rs, x.cs, yq, ldy, kb, &to[0], ld, k0 > 0)
				default:
					outer1x32AVX512(&x.d[xo], x.rs, x.cs, yq, ldy, kb, &to[0], ld, k0 > 0)
				}
			}
			r += rows
		}
	}
	if p.swap {
		storeT(c, n, tile, tld, xr, yr, x0, y0, acc)
	} else if tile != nil {
		y1 := full * pan512 // columns already in C
		for r := 0; r < xr; r++ {
			tr := tile[r*tld+y1 : r*tld+yr]
			row := c[(x0+r)*n+y0+y1 : (x0+r)*n+y0+yr]
			if acc {
				for j, v := range tr {
					row[j] += v
				}
			} else {
				copy(row, tr)
			}
		}
	}
}

// storeT writes (or adds) the transposed tile (row stride tld), C[y0+j][x0+r]
// = tile[r][j]: 16×16 blocks transposed in registers, the edges one value
// at a time.
func storeT(c []float32, n int, tile []float32, tld, xr, yr, x0, y0 int, acc bool) {
	j16, r16 := yr&^15, xr&^15
	for j0 := 0; j0 < j16; j0 += 16 {
		for r0 := 0; r0 < r16; r0 += 16 {
			_ = c[(y0+j0+15)*n+x0+r0+15]
			_ = tile[(r0+15)*tld+j0+15]
			transpose16AVX512(&c[(y0+j0)*n+x0+r0], n, &tile[r0*tld+j0], tld, acc)
		}
	}
	put := func(j, r int) {
		if acc {
			c[(y0+j)*n+x0+r] += tile[r*tld+j]
		} else {
			c[(y0+j)*n+x0+r] = tile[r*tld+j]
		}
	}
	for j := 0; j < yr; j++ {
		r := r16
		if j >= j16 {
			r = 0
		}
		for ; r < xr; r++ {
			put(j, r)
		}
	}
}

// The tasks' scratch, the packed panels of Y and the tile sums, taken at
// the size a task needs (at most by512·kc512 and bxMax512·by512 values)
// from two pools, one per kind, so a buffer fits the next task of its
// kind; before, every task took a fixed 1.5 MB tile buffer (allocated and
// cleared whenever its pool was empty) even when it used none of it.
var panels512, tiles512 Pool

// inPlace reports whether panel q of a task's yr rows of Y is read where
// it lies rather than packed: when Y's rows are contiguous along k's
// columns (B of MatMulNN and MatMulTN), a full panel's rows of k already
// are 32 consecutive values, a stride apart.
func (p *plan512) inPlace(q, yr int) bool {
	return p.y.rs == 1 && (q+1)*pan512 <= yr
}

// pack copies Y rows [y0, y0+yr) × k [k0, k0+kb) into 32-wide panels,
// yp[q*32*kb + (p-k0)*32 + j] = Y(y0+32q+j, p), zero past the last row;
// panels read in place (inPlace) are skipped.
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
		if p.inPlace(q, yr) {
			continue
		}
		if y.rs == 1 {
			// Rows contiguous along a column of k: copy w values per k.
			for pp := 0; pp < kb; pp++ {
				src := y.d[r0+(k0+pp)*y.cs:]
				copy(panel[pp*pan512:pp*pan512+w], src[:w])
			}
			continue
		}
		j0 := 0
		if y.cs == 1 {
			// Rows contiguous in k: 16×16 blocks transposed in registers,
			// then the last rows and values of k one at a time.
			w16, k16 := w&^15, kb&^15
			for ; j0 < w16; j0 += 16 {
				for pp := 0; pp < k16; pp += 16 {
					src := (r0+j0)*y.rs + k0 + pp
					_ = y.d[src+15*y.rs+15]
					transpose16AVX512(&panel[pp*pan512+j0], pan512, &y.d[src], y.rs, false)
				}
				for j := j0; j < j0+16; j++ {
					src := y.d[(r0+j)*y.rs+k0:]
					for pp := k16; pp < kb; pp++ {
						panel[pp*pan512+j] = src[pp]
					}
				}
			}
		}
		for j := j0; j < w; j++ {
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
