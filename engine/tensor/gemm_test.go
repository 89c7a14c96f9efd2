package tensor

import (
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// naive computes the product in float64 for reference.
func naive(a, b []float32, m, n, k int, ta, tb bool) []float64 {
	c := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var x, y float32
				if ta {
					x = a[p*m+i]
				} else {
					x = a[i*k+p]
				}
				if tb {
					y = b[j*k+p]
				} else {
					y = b[p*n+j]
				}
				s += float64(x) * float64(y)
			}
			c[i*n+j] = s
		}
	}
	return c
}

// kernelPaths lists the kernel paths this build can run on this CPU: the
// pure-Go tiles always, the assembly tiles where they exist (not under the
// noasm tag) and the CPU has AVX2 and FMA, or AVX-512.
func kernelPaths() []string { return Kernels() }

// useKernels switches the kernel path for the rest of the test; the
// switch is restored when the test ends, whatever happens.
func useKernels(t *testing.T, name string) {
	t.Helper()
	prev := UseKernels(name)
	t.Cleanup(func() { UseKernels(prev) })
	if kernels.String() != name {
		t.Fatalf("kernel switch: %s requested, got %s", name, kernels)
	}
}

// TestMatMul checks each kernel path against the float64 product, in the
// three layouts, with and without accumulation, on shapes that reach the
// dot-product and outer-product tiles, their edges and the parallel split.
func TestMatMul(t *testing.T) {
	shapes := [][3]int{{1, 1, 1}, {1, 4, 8}, {3, 4, 8}, {5, 7, 13}, {2, 130, 67}, {100, 65, 9}, {97, 129, 200}, {4, 3, 0}, {200, 70, 64}, {13, 17, 159}, {7, 9, 176}, {20, 70, 161}, {1, 5, 300}, {40, 70, 600}, {300, 40, 520}}
	for _, path := range kernelPaths() {
		t.Run(path, func(t *testing.T) {
			useKernels(t, path)
			r := rand.New(rand.NewPCG(1, 2))
			for _, s := range shapes {
				m, n, k := s[0], s[1], s[2]
				for _, op := range []string{"NT", "NN", "TN"} {
					for _, acc := range []bool{false, true} {
						a := randSlice(r, m*k)
						b := randSlice(r, n*k)
						c := randSlice(r, m*n)
						c0 := append([]float32(nil), c...)
						var want []float64
						switch op {
						case "NT":
							MatMulNT(c, a, b, m, n, k, acc)
							want = naive(a, b, m, n, k, false, true)
						case "NN":
							MatMulNN(c, a, b, m, n, k, acc)
							want = naive(a, b, m, n, k, false, false)
						case "TN":
							MatMulTN(c, a, b, m, n, k, acc)
							want = naive(a, b, m, n, k, true, false)
						}
						for i := range want {
							w := want[i]
							if acc {
								w += float64(c0[i])
							}
							if d := math.Abs(float64(c[i]) - w); d > 1e-4*(1+math.Sqrt(float64(k))) {
								t.Fatalf("%s %v acc=%v: c[%d] = %v want %v", op, s, acc, i, c[i], w)
							}
						}
					}
				}
			}
		})
	}
}

// TestDeterministic checks, for each kernel path, byte-identical results
// for any GOMAXPROCS on shapes that really split over goroutines, and that
// a row's result does not depend on the other rows of its product.
func TestDeterministic(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	results := map[string]map[int][]float32{}
	for _, path := range kernelPaths() {
		results[path] = map[int][]float32{}
		t.Run(path, func(t *testing.T) {
			useKernels(t, path)
			for _, k := range []int{203, 77} { // dot-product and outer-product paths
				r := rand.New(rand.NewPCG(3, uint64(k)))
				m, n := 301, 259
				if !RunsParallel(m, n, k) {
					t.Fatalf("%d×%d×%d does not run in parallel: the test would not test determinism", m, n, k)
				}
				a, b := randSlice(r, m*k), randSlice(r, n*k)
				var ref []float32
				for _, procs := range []int{1, 2, 3, 8} {
					runtime.GOMAXPROCS(procs)
					c := make([]float32, m*n)
					MatMulNT(c, a, b, m, n, k, false)
					if ref == nil {
						ref = c
						continue
					}
					for i := range c {
						if math.Float32bits(c[i]) != math.Float32bits(ref[i]) {
							t.Fatalf("k=%d GOMAXPROCS=%d: c[%d] differs", k, procs, i)
						}
					}
				}
				results[path][k] = ref
				// Row 100 alone, and with a few or many rows around it
				// (every tile height), equals row 100 of the batch: the
				// invariant that lets callers compute a subset of rows.
				for _, rows := range []int{1, 2, 4, 7, 13} {
					part := make([]float32, rows*n)
					MatMulNT(part, a[(100-rows+1)*k:101*k], b, rows, n, k, false)
					one := part[(rows-1)*n:]
					for j := range one {
						if math.Float32bits(one[j]) != math.Float32bits(ref[100*n+j]) {
							t.Fatalf("k=%d: row 100 computed with %d rows differs at col %d", k, rows, j)
						}
					}
				}
			}
		})
	}
	// The paths really are different arithmetic: fused and separate
	// multiply-adds, lane sums and one chain over k, round differently
	// somewhere in 78,000 sums of 77 or 203 products. Were a switch not to
	// reach its kernels, two runs would be the same tiles and agree bit for
	// bit. Where K < smallK both assembly paths run one FMA chain per
	// element over k in order, and must agree bit for bit.
	paths := kernelPaths()
	for x := 0; x < len(paths); x++ {
		for y := x + 1; y < len(paths); y++ {
			for _, k := range []int{203, 77} {
				same := true
				for i, v := range results[paths[x]][k] {
					if math.Float32bits(v) != math.Float32bits(results[paths[y]][k][i]) {
						same = false
						break
					}
				}
				wantSame := k < smallK && paths[x] != "generic"
				if same != wantSame {
					t.Errorf("k=%d: paths %s and %s agree bit for bit: %v, want %v", k, paths[x], paths[y], same, wantSame)
				}
			}
		}
	}
}

// TestArithmeticPath checks the path name follows the kernel switch, and
// UseAssembly selects the widest path or the generic one.
func TestArithmeticPath(t *testing.T) {
	for _, path := range kernelPaths() {
		t.Run(path, func(t *testing.T) {
			useKernels(t, path)
			p := ArithmeticPath()
			if !strings.HasPrefix(p, runtime.GOARCH) || !strings.HasSuffix(p, "-"+path) {
				t.Errorf("ArithmeticPath() = %q, want %s…-%s", p, runtime.GOARCH, path)
			}
		})
	}
	paths := kernelPaths()
	prev := UseAssembly(false)
	defer UseAssembly(prev)
	if got := kernels.String(); got != "generic" {
		t.Errorf("UseAssembly(false): path %s", got)
	}
	UseAssembly(true)
	if got, want := kernels.String(), paths[len(paths)-1]; got != want {
		t.Errorf("UseAssembly(true): path %s, want the widest, %s", got, want)
	}
	if HasAssembly() != (len(paths) > 1) {
		t.Errorf("HasAssembly() = %v with paths %v", HasAssembly(), paths)
	}
}

func TestParallel(t *testing.T) {
	seen := make([]int, 1000)
	Parallel(1000, 7, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			seen[i]++
		}
	})
	for i, v := range seen {
		if v != 1 {
			t.Fatalf("item %d visited %d times", i, v)
		}
	}
}

func benchGEMM(b *testing.B, m, n, k int, f func(c, a, bb []float32)) {
	r := rand.New(rand.NewPCG(1, 1))
	a, bb, c := randSlice(r, m*k), randSlice(r, n*k), make([]float32, m*n)
	b.SetBytes(0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f(c, a, bb)
	}
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkGEMM compares MatMulNT, on each kernel path, with gonum's blas32 Sgemm (NoTrans×Trans)
// on the same shapes in the same run.
func BenchmarkGEMM(b *testing.B) {
	for _, s := range [][3]int{{512, 512, 512}, {1024, 32000, 64}, {256, 1536, 576}, {256, 576, 1536}, {4, 1536, 576}, {1, 49152, 576}, {1024, 8000, 256}, {1024, 256, 8000}, {64, 8000, 256}, {1024, 8, 256}} {
		m, n, k := s[0], s[1], s[2]
		name := func(x string) string {
			return x + "/" + itoa(m) + "x" + itoa(n) + "x" + itoa(k)
		}
		for _, path := range kernelPaths() {
			b.Run(name("crossin-"+path), func(b *testing.B) {
				prev := UseKernels(path)
				defer UseKernels(prev)
				benchGEMM(b, m, n, k, func(c, a, bb []float32) { MatMulNT(c, a, bb, m, n, k, false) })
			})
		}
		b.Run(name("gonum"), func(b *testing.B) {
			benchGEMM(b, m, n, k, func(c, a, bb []float32) {
				blas32.Gemm(blas.NoTrans, blas.Trans, 1,
					blas32.General{Rows: m, Cols: k, Stride: k, Data: a},
					blas32.General{Rows: n, Cols: k, Stride: k, Data: bb}, 0,
					blas32.General{Rows: m, Cols: n, Stride: n, Data: c})
			})
		})
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	s := ""
	for ; i > 0; i /= 10 {
		s = string(rune('0'+i%10)) + s
	}
	return s
}

// TestThreadsBound checks that Threads(n) runs products and loops on at
// most n goroutines whatever GOMAXPROCS is, with the same bytes, and that
// Split shares a bound among nested work.
func TestThreadsBound(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8))
	r := rand.New(rand.NewPCG(5, 6))
	m, n, k := 601, 259, 203 // at least 8 tasks on every path
	a, b := randSlice(r, m*k), randSlice(r, n*k)
	want := make([]float32, m*n)
	MatMulNT(want, a, b, m, n, k, false)
	PeakWorkers()
	for _, th := range []Threads{1, 2, 3, 0} {
		c := make([]float32, m*n)
		th.MatMulNT(c, a, b, m, n, k, false)
		peakMM := PeakWorkers()
		th.Parallel(1000, 10, func(lo, hi int) {})
		peakLoop := PeakWorkers()
		bound := int(th)
		if th == 0 {
			bound = 8
		}
		if peakMM != bound || peakLoop != bound {
			t.Errorf("Threads(%d): product on %d goroutines, loop on %d; want %d", th, peakMM, peakLoop, bound)
		}
		for i := range c {
			if math.Float32bits(c[i]) != math.Float32bits(want[i]) {
				t.Fatalf("Threads(%d): c[%d] differs", th, i)
			}
		}
	}
	for _, tt := range []struct {
		th    Threads
		tasks int
		want  Threads
	}{{8, 2, 4}, {8, 3, 2}, {2, 8, 1}, {1, 1, 1}, {3, 0, 3}} {
		if got := tt.th.Split(tt.tasks); got != tt.want {
			t.Errorf("Threads(%d).Split(%d) = %d, want %d", tt.th, tt.tasks, got, tt.want)
		}
	}
}

// TestLayoutsAgree checks, on every path, that MatMulNN and MatMulTN give
// the bits of MatMulNT on the transposed operands, the promise that lets
// callers drop their transposed copies of weights (InPlaceLayouts).
func TestLayoutsAgree(t *testing.T) {
	for _, path := range kernelPaths() {
		t.Run(path, func(t *testing.T) {
			useKernels(t, path)
			r := rand.New(rand.NewPCG(7, 8))
			for _, s := range [][3]int{{33, 70, 300}, {200, 40, 77}, {1, 50, 170}, {64, 300, 520}} {
				m, n, k := s[0], s[1], s[2]
				a, b := randSlice(r, m*k), randSlice(r, k*n) // A [m×k] (or [k×m]), B [k×n]
				bt := make([]float32, n*k)
				Transpose(bt, b, k, n)
				at := make([]float32, m*k)
				Transpose(at, a, k, m)
				for _, acc := range []bool{false, true} {
					c0 := randSlice(r, m*n)
					want := append([]float32(nil), c0...)
					got := append([]float32(nil), c0...)
					MatMulNT(want, a, bt, m, n, k, acc)
					MatMulNN(got, a, b, m, n, k, acc)
					sameBits(t, "NN", s, got, want)
					want = append(want[:0], c0...)
					got = append(got[:0], c0...)
					MatMulNT(want, at, bt, m, n, k, acc)
					MatMulTN(got, a, b, m, n, k, acc)
					sameBits(t, "TN", s, got, want)
				}
			}
		})
	}
}

func sameBits(t *testing.T, op string, s [3]int, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s %v: c[%d] = %v, MatMulNT on the transposes gives %v", op, s, i, got[i], want[i])
		}
	}
}
