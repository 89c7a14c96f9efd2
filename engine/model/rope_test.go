package model

import (
	"math"
	"sync"
	"testing"
)

// rotateRecomputed is the rotation as it was before the table: cos and sin
// recomputed for every row from freqsFor. The table must reproduce it bit
// for bit.
func rotateRecomputed(r *Rope, x []float32, rows, heads int, pos []int, inverse bool) {
	hd := r.dim
	half := hd / 2
	maxPos := 0
	for _, p := range pos[:rows] {
		maxPos = max(maxPos, p)
	}
	inv := r.freqsFor(maxPos)
	cos := make([]float32, half)
	sin := make([]float32, half)
	for i := 0; i < rows; i++ {
		p := float32(pos[i])
		for j := 0; j < half; j++ {
			f := inv[j] * p
			cos[j] = float32(math.Cos(float64(f))) * r.attScale
			sin[j] = float32(math.Sin(float64(f))) * r.attScale
			if inverse {
				sin[j] = -sin[j]
			}
		}
		row := x[i*heads*hd : (i+1)*heads*hd]
		for h := 0; h < heads; h++ {
			v := row[h*hd : (h+1)*hd]
			for j := 0; j < half; j++ {
				a, b := v[j], v[j+half]
				v[j] = a*cos[j] - b*sin[j]
				v[j+half] = b*cos[j] + a*sin[j]
			}
		}
	}
}

// TestRopeTableBits checks that the cached cos/sin table rotates exactly as
// the per-call computation, for every rope_scaling variant, forward and
// inverse, with the table growing between calls (positions in increasing,
// decreasing and scattered order) and for "dynamic" scaling both inside
// and beyond the original context.
func TestRopeTableBits(t *testing.T) {
	const heads = 3
	variants := []struct{ name, extra string }{
		{"default", ``},
		{"theta", `,"rope_theta":500000`},
		{"linear", `,"rope_scaling":{"type":"linear","factor":4}`},
		{"llama3", `,"rope_theta":500000,"rope_scaling":{"rope_type":"llama3","factor":8,"low_freq_factor":1,"high_freq_factor":4,"original_max_position_embeddings":64}`},
		{"yarn", `,"rope_scaling":{"rope_type":"yarn","factor":4,"original_max_position_embeddings":64}`},
		{"dynamic", `,"rope_scaling":{"type":"dynamic","factor":2}`},
	}
	posSets := map[string][]int{
		"prefix":    seq(0, 17),
		"later":     seq(17, 90),   // grows the table
		"long":      seq(0, 300),   // several parallel chunks
		"longpast":  seq(450, 700), // and past dynamic scaling's context
		"scattered": {5, 700, 0, 33, 255, 256, 1023, 2, 511},
		"beyond":    {100, 3000, 4095}, // past max_position_embeddings (and dynamic's context)
		"single":    {4096},
	}
	order := []string{"prefix", "later", "long", "longpast", "scattered", "beyond", "single"}
	for _, v := range variants {
		c, err := ParseConfig([]byte(`{"model_type":"llama","vocab_size":10,"hidden_size":96,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":3,"max_position_embeddings":512`+v.extra+`}`), "c")
		if err != nil {
			t.Fatal(err)
		}
		r := NewRope(c)
		for _, name := range order {
			pos := posSets[name]
			for _, inverse := range []bool{false, true} {
				rows := len(pos)
				x := make([]float32, rows*heads*r.dim)
				for i := range x {
					x[i] = float32(math.Sin(float64(i)*0.37)) * 3
				}
				want := append([]float32(nil), x...)
				rotateRecomputed(r, want, rows, heads, pos, inverse)
				// The parallel rotation (Step's) must agree too.
				par := append([]float32(nil), x...)
				r.rotate(4, par, rows, heads, pos, inverse)
				if inverse {
					r.ApplyInverse(x, rows, heads, pos)
				} else {
					r.Apply(x, rows, heads, pos)
				}
				for i := range x {
					if math.Float32bits(x[i]) != math.Float32bits(want[i]) || math.Float32bits(par[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s, %s positions, inverse %v: element %d = %v (parallel %v), recomputed %v", v.name, name, inverse, i, x[i], par[i], want[i])
					}
				}
			}
		}
		// The table covers the largest position a table-using pass saw
		// (dynamic scaling: only passes within its original context).
		want := 4097
		if v.name == "dynamic" {
			want = 90
		}
		if tb := r.table.Load(); tb == nil || tb.n < want {
			t.Errorf("%s: table does not cover the positions used", v.name)
		} else if len(tb.cos) != tb.n*r.dim/2 || len(tb.sin) != len(tb.cos) {
			t.Errorf("%s: table of %d positions has %d/%d values", v.name, tb.n, len(tb.cos), len(tb.sin))
		}
	}
}

// TestRopeTableConcurrent rotates from several goroutines at once while the
// table grows; every result must equal the recomputed rotation (run with
// -race to check the table's publication).
func TestRopeTableConcurrent(t *testing.T) {
	c, err := ParseConfig([]byte(`{"model_type":"llama","vocab_size":10,"hidden_size":64,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,"max_position_embeddings":4096}`), "c")
	if err != nil {
		t.Fatal(err)
	}
	r := NewRope(c)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pos := seq(g*97, g*97+200)
			x := make([]float32, len(pos)*2*r.dim)
			for i := range x {
				x[i] = float32(i%13) - 6
			}
			want := append([]float32(nil), x...)
			rotateRecomputed(r, want, len(pos), 2, pos, false)
			r.Apply(x, len(pos), 2, pos)
			for i := range x {
				if math.Float32bits(x[i]) != math.Float32bits(want[i]) {
					errs <- "goroutine result differs"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

func seq(lo, hi int) []int {
	s := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		s = append(s, i)
	}
	return s
}
