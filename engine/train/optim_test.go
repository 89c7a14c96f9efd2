package train

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The expected factors are transformers' get_*_schedule_with_warmup
// evaluated in Python for 100 steps, warmup ratio 0.03 (ceil -> 3 steps).
func TestSchedules(t *testing.T) {
	cases := []struct {
		kind  string
		steps []int
		want  []float64
	}{
		{"cosine", []int{0, 1, 2, 3, 4, 50, 99}, []float64{0, 0.3333333333333333, 0.6666666666666666, 1, 0.9997377845227575, 0.5242811110572242, 0.00026221547724253336}},
		{"linear", []int{0, 1, 3, 50, 99}, []float64{0, 0.3333333333333333, 1, 0.5154639175257731, 0.010309278350515464}},
		{"constant", []int{0, 2, 3, 99}, []float64{0, 0.6666666666666666, 1, 1}},
	}
	for _, c := range cases {
		s, err := NewSchedule(c.kind, 0.03, 100)
		if err != nil {
			t.Fatal(err)
		}
		if s.Warmup != 3 {
			t.Fatalf("%s: warmup %d, want ceil(0.03*100)=3", c.kind, s.Warmup)
		}
		for i, st := range c.steps {
			if got := s.Factor(st); math.Abs(got-c.want[i]) > 1e-15 {
				t.Errorf("%s step %d: %v, want %v", c.kind, st, got, c.want[i])
			}
		}
	}
	if _, err := NewSchedule("polynomial", 0, 10); err == nil {
		t.Error("unknown scheduler accepted")
	}
	if _, err := NewSchedule("cosine", 1.5, 10); err == nil {
		t.Error("warmup ratio 1.5 accepted")
	}
}

// TestAdamW checks several steps against the textbook AdamW in float64.
func TestAdamW(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	const n = 50
	p := make([]float32, n)
	ref := make([]float64, n)
	for i := range p {
		p[i] = float32(rng.NormFloat64())
		ref[i] = float64(p[i])
	}
	m, v := make([]float64, n), make([]float64, n)
	opt := NewAdamW([]int{n}, 0.1)
	lr, b1, b2, eps, wd := 1e-2, 0.9, 0.999, 1e-8, 0.1
	for step := 1; step <= 5; step++ {
		g := make([]float32, n)
		for i := range g {
			g[i] = float32(rng.NormFloat64())
		}
		if err := opt.Update([][]float32{p}, [][]float32{g}, lr); err != nil {
			t.Fatal(err)
		}
		for i := range ref {
			gi := float64(g[i])
			ref[i] *= 1 - lr*wd
			m[i] = b1*m[i] + (1-b1)*gi
			v[i] = b2*v[i] + (1-b2)*gi*gi
			mh := m[i] / (1 - math.Pow(b1, float64(step)))
			vh := v[i] / (1 - math.Pow(b2, float64(step)))
			ref[i] -= lr * mh / (math.Sqrt(vh) + eps)
		}
	}
	for i := range p {
		if math.Abs(float64(p[i])-ref[i]) > 1e-6 {
			t.Fatalf("param %d: %v, want %v", i, p[i], ref[i])
		}
	}
	if opt.Step != 5 {
		t.Fatalf("step %d", opt.Step)
	}
	// Decoupled decay: a zero gradient only shrinks the weights.
	o2 := NewAdamW([]int{1}, 0.5)
	q := []float32{2}
	o2.Update([][]float32{q}, [][]float32{{0}}, 0.1)
	if q[0] != float32(2*(1-0.1*0.5)) {
		t.Fatalf("decay: %v", q[0])
	}
	if err := o2.Update([][]float32{q, q}, [][]float32{{0}}, 0.1); err == nil {
		t.Fatal("mismatched tensors accepted")
	}
}

func TestClipGradNorm(t *testing.T) {
	g := [][]float32{{3}, {4}}
	if n := ClipGradNorm(g, 1); n != 5 {
		t.Fatalf("norm %v", n)
	}
	c := float32(1) / (5 + 1e-6)
	if g[0][0] != 3*c || g[1][0] != 4*c {
		t.Fatalf("clipped %v", g)
	}
	h := [][]float32{{0.3}, {0.4}}
	ClipGradNorm(h, 1)
	if h[0][0] != 0.3 || h[1][0] != 0.4 {
		t.Fatalf("small gradients changed: %v", h)
	}
	k := [][]float32{{30}, {40}}
	ClipGradNorm(k, 0)
	if k[0][0] != 30 {
		t.Fatal("max norm 0 must not clip")
	}
}

// TestGradAccumulation: two micro-batches of one row each, averaged over
// the items of both (HF's num_items_in_batch), give the gradient of the
// two rows as one batch.
func TestGradAccumulation(t *testing.T) {
	d := tinyDims()
	base := RandomBase(d, 2)
	ad := randomAdapter(t, d, 4, 8, 0, []string{"q_proj", "o_proj", "up_proj"}, 3)
	data := syntheticData(2, d.Vocab, 4)
	whole := collate(data, 0, 0)
	one, two := collate(data[:1], 0, 0), collate(data[1:], 0, 0)
	n1, _ := NewNet(base, ad, 1)
	if _, err := n1.Backward(whole, whole.Items()); err != nil {
		t.Fatal(err)
	}
	n2, _ := NewNet(base, ad, 1)
	items := one.Items() + two.Items()
	if items != whole.Items() {
		t.Fatalf("items %d vs %d", items, whole.Items())
	}
	n2.Backward(one, items)
	n2.Backward(two, items)
	for i := range n1.Grads {
		if e := relErr(n2.Grads[i], n1.Grads[i]); e > 1e-5 {
			t.Errorf("tensor %d: accumulated gradient differs by %.3g", i, e)
		}
	}
}
