package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"

	"github.com/crossin-lab/crossin/engine/safetensors"
	"github.com/crossin-lab/crossin/engine/tensor"
)

// Model is a loaded decoder-only transformer. Its methods do not modify
// it, so concurrent NLL/Generate/ScoreOptions calls are safe (each keeps
// its own caches); SetAdapter must not race with them.
type Model struct {
	Config  *Config
	Weights *Weights
	Dir     string
	rope    *Rope
	set     *safetensors.Set // keeps the mapping alive while weights alias it
	adapter Adapter
	act     func(float32) float32
	silu    bool           // act is Silu
	threads tensor.Threads // bound on the goroutines of each product and loop
}

// Option configures Load.
type Option func(*loadOptions)

type loadOptions struct{ adapter Adapter }

// WithAdapter installs an adapter (e.g. LoRA) at load time; see SetAdapter.
func WithAdapter(a Adapter) Option { return func(o *loadOptions) { o.adapter = a } }

// LoadDirConfig reads a model directory's config.json and, when present,
// generation_config.json's eos_token_id (which wins, as in transformers'
// generate), without touching the weights.
func LoadDirConfig(dir string) (*Config, error) {
	cfg, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	if b, err := os.ReadFile(filepath.Join(dir, "generation_config.json")); err == nil {
		var g map[string]json.RawMessage
		if err := json.Unmarshal(b, &g); err != nil {
			return nil, fmt.Errorf("%s: %v", filepath.Join(dir, "generation_config.json"), err)
		}
		p := &cfgParser{raw: g, name: filepath.Join(dir, "generation_config.json")}
		if eos := p.intOrList("eos_token_id"); len(eos) > 0 {
			cfg.EOSTokenIDs = eos
		}
		if p.err != nil {
			return nil, p.err
		}
	}
	return cfg, nil
}

// Load reads a Hugging Face model directory: config.json, the safetensors
// weights (single file or sharded with an index) and, when present,
// generation_config.json's eos_token_id. Float32 weights stay in the
// memory mapping; Close releases it.
func Load(dir string, opts ...Option) (*Model, error) {
	var o loadOptions
	for _, f := range opts {
		f(&o)
	}
	cfg, err := LoadDirConfig(dir)
	if err != nil {
		return nil, err
	}
	set, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	w, err := loadWeights(cfg, set)
	if err != nil {
		set.Close()
		return nil, err
	}
	m, err := New(cfg, w)
	if err != nil {
		set.Close()
		return nil, err
	}
	m.Dir = dir
	m.adapter = o.adapter
	// Keep the mapping only if some float32 tensor is used in place;
	// converted (BF16/F16) weights own their memory.
	aliased := false
	for _, name := range set.Names() {
		if info, _ := set.Info(name); info.DType == safetensors.F32 {
			aliased = true
		}
	}
	if aliased {
		m.set = set
	} else {
		set.Close()
	}
	return m, nil
}

// New builds a model from a config and weights already in memory.
func New(cfg *Config, w *Weights) (*Model, error) {
	if len(w.Layers) != cfg.NumLayers {
		return nil, fmt.Errorf("model: %d layers of weights for a config of %d", len(w.Layers), cfg.NumLayers)
	}
	return &Model{Config: cfg, Weights: w, rope: NewRope(cfg), act: Activation(cfg.HiddenAct), silu: gelu(cfg.HiddenAct) == nil}, nil
}

// Close releases the weights' memory mapping. The model must not be used
// afterwards.
func (m *Model) Close() error {
	if m.set == nil {
		return nil
	}
	err := m.set.Close()
	m.set = nil
	return err
}

// SetAdapter installs (or, with nil, removes) the adapter whose deltas are
// added after every base projection.
func (m *Model) SetAdapter(a Adapter) { m.adapter = a }

// SetThreads bounds the goroutines of the model's forward passes (each
// matrix product and loop, nested ones sharing the bound) to n; 0, the
// default, means GOMAXPROCS. Results do not depend on it. A trainer job's
// `threads` sets it, so a stage keeps to its share of the CPUs even beside
// other stages in the same process.
func (m *Model) SetThreads(n int) { m.threads = tensor.Threads(max(n, 0)) }

// Threads returns the bound set by SetThreads.
func (m *Model) Threads() tensor.Threads { return m.threads }

// Rope returns the model's rotary embedding.
func (m *Model) Rope() *Rope { return m.rope }

// Project computes projection p of layer l with the adapter's delta:
// y = x·Wᵀ + b (+ adapter). Training code calls it to reuse the forward.
func (m *Model) Project(l int, p Proj, x []float32, rows int, y []float32) {
	lin := &m.Weights.Layers[l].Proj[p]
	lin.forward(m.threads, x, rows, y)
	if m.adapter != nil {
		m.adapter.AddDelta(l, p, x, rows, y)
	}
}

// Cache is one sequence's key/value cache. A Cache may share the positions
// of another (its prefix, see Fork) read-only.
type Cache struct {
	m      *Model
	n, cap int         // own positions stored, capacity
	k, v   [][]float32 // per layer: kvHeads × cap × headDim
	prefix *Cache
	pre    int // number of prefix positions visible to this cache
}

// NewCache returns an empty cache for m.
func (m *Model) NewCache() *Cache {
	L := m.Config.NumLayers
	return &Cache{m: m, k: make([][]float32, L), v: make([][]float32, L)}
}

// Len is the number of positions the cache holds, prefix included.
func (c *Cache) Len() int { return c.pre + c.n }

// Fork returns an empty cache whose first Len() positions are c's, shared
// without copying. c may grow afterwards; the fork sees only the positions
// c had when forked.
func (c *Cache) Fork() *Cache {
	f := c.m.NewCache()
	f.prefix, f.pre = c, c.Len()
	return f
}

func (c *Cache) grow(need int) {
	if need <= c.cap {
		return
	}
	nc := max(need, 2*c.cap, 16)
	cfg := c.m.Config
	hd, kvh := cfg.HeadDim, cfg.NumKVHeads
	for l := range c.k {
		for _, buf := range []*[]float32{&c.k[l], &c.v[l]} {
			nb := make([]float32, kvh*nc*hd)
			if c.n > 0 {
				for h := 0; h < kvh; h++ {
					copy(nb[h*nc*hd:h*nc*hd+c.n*hd], (*buf)[h*c.cap*hd:h*c.cap*hd+c.n*hd])
				}
			}
			*buf = nb
		}
	}
	c.cap = nc
}

// segment is a run of cached positions of one layer and KV head.
type segment struct {
	k, v []float32 // count × headDim each
	n    int
}

// segments lists the cached positions visible to c for (layer, kv head),
// oldest first, limited to the first upto positions of c's own part.
func (c *Cache) segments(l, h, upto int, out []segment) []segment {
	if c.prefix != nil {
		out = c.prefix.segments(l, h, c.pre-c.prefix.pre, out)
	}
	hd := c.m.Config.HeadDim
	n := upto // may exceed c.n while a Step is writing new positions
	if n > 0 {
		off := h * c.cap * hd
		out = append(out, segment{k: c.k[l][off : off+n*hd], v: c.v[l][off : off+n*hd], n: n})
	}
	return out
}

// Step appends tokens[s] to caches[s] for every s and runs all new tokens
// through the model as one batch (the rows of every projection are stacked
// into one matrix product; attention runs per sequence, so sequences of
// different lengths need no padding). It returns the final-normed hidden
// states of the new tokens, rows ordered by s then position.
func (m *Model) Step(caches []*Cache, tokens [][]int) ([]float32, error) {
	return m.step(caches, tokens, true)
}

// Prefill appends tokens[s] to caches[s] as Step does, for a caller that
// wants only the caches (a prompt whose continuations come next): it
// stops the last layer once its keys and values are cached, skipping that
// layer's queries, attention, output projection and MLP and the final norm,
// whose results no later step reads. The caches hold the bits Step would
// write. For the quickstart's two-layer model that is close to half the
// work of a prompt.
func (m *Model) Prefill(caches []*Cache, tokens [][]int) error {
	_, err := m.step(caches, tokens, false)
	return err
}

// step is Step, or Prefill without hidden.
func (m *Model) step(caches []*Cache, tokens [][]int, hidden bool) ([]float32, error) {
	cfg := m.Config
	if len(caches) != len(tokens) {
		return nil, fmt.Errorf("model: %d caches for %d token lists", len(caches), len(tokens))
	}
	rows := 0
	for s, t := range tokens {
		for i, id := range t {
			if id < 0 || id >= cfg.VocabSize {
				return nil, fmt.Errorf("model: sequence %d, position %d: token id %d outside the vocabulary [0, %d)", s, i, id, cfg.VocabSize)
			}
		}
		if caches[s].m != m {
			return nil, errors.New("model: cache belongs to another model")
		}
		for _, c := range caches[:s] {
			if c == caches[s] {
				return nil, fmt.Errorf("model: cache of sequence %d given twice in one step", s)
			}
		}
		rows += len(t)
	}
	if rows == 0 {
		return nil, nil
	}
	h, qd, kvd, in := cfg.HiddenSize, cfg.QDim(), cfg.KVDim(), cfg.IntermediateSize
	hd, nh, nkv := cfg.HeadDim, cfg.NumHeads, cfg.NumKVHeads
	pos := make([]int, 0, rows)
	start := make([]int, len(tokens)) // first row of each sequence
	n0 := make([]int, len(tokens))    // own positions before this step
	for s, t := range tokens {
		start[s] = len(pos)
		n0[s] = caches[s].n
		base := caches[s].Len()
		for i := range t {
			pos = append(pos, base+i)
		}
		caches[s].grow(caches[s].n + len(t))
	}
	// The step's temporaries come from one pooled slab (every one is
	// written before it is read); xn, the result, is the caller's.
	sizes := []int{rows * h, rows * qd, rows * kvd, rows * kvd, rows * qd, rows * h, rows * in, rows * in}
	total := 0
	for _, n := range sizes {
		total += n
	}
	slab := stepPool.Get(total)
	defer stepPool.Put(slab)
	bufs := make([][]float32, len(sizes))
	for i, n := range sizes {
		bufs[i], slab = slab[:n:n], slab[n:]
	}
	x, q, k, v, att, tmp, g, u := bufs[0], bufs[1], bufs[2], bufs[3], bufs[4], bufs[5], bufs[6], bufs[7]
	r := 0
	scale := float32(1)
	if cfg.EmbedScale {
		scale = float32(math.Sqrt(float64(h)))
	}
	for _, t := range tokens {
		for _, id := range t {
			e := m.Weights.Embed[id*h : (id+1)*h]
			dst := x[r*h : (r+1)*h]
			if cfg.EmbedScale {
				for j, v := range e {
					dst[j] = v * scale
				}
			} else {
				copy(dst, e)
			}
			r++
		}
	}
	xn := make([]float32, rows*h)
	for l := range m.Weights.Layers {
		L := &m.Weights.Layers[l]
		last := !hidden && l == len(m.Weights.Layers)-1 // only its cache is wanted
		m.norm(xn, x, L.InputNorm, rows)
		if !last {
			m.Project(l, ProjQ, xn, rows, q)
		}
		m.Project(l, ProjK, xn, rows, k)
		m.Project(l, ProjV, xn, rows, v)
		if !last {
			m.rope.rotate(m.threads, q, rows, nh, pos, false)
		}
		m.rope.rotate(m.threads, k, rows, nkv, pos, false)
		for s, t := range tokens {
			c := caches[s]
			for i := range t {
				row := start[s] + i
				p := n0[s] + i
				for kh := 0; kh < nkv; kh++ {
					off := kh*c.cap*hd + p*hd
					copy(c.k[l][off:off+hd], k[row*kvd+kh*hd:row*kvd+(kh+1)*hd])
					copy(c.v[l][off:off+hd], v[row*kvd+kh*hd:row*kvd+(kh+1)*hd])
				}
			}
		}
		if last {
			break
		}
		m.attention(l, caches, tokens, start, n0, q, att)
		m.Project(l, ProjO, att, rows, tmp)
		m.addTo(x, tmp)
		m.norm(xn, x, L.PostAttnNorm, rows)
		m.Project(l, ProjGate, xn, rows, g)
		m.Project(l, ProjUp, xn, rows, u)
		m.gate(g, u)
		m.Project(l, ProjDown, g, rows, tmp)
		m.addTo(x, tmp)
	}
	for s, t := range tokens {
		caches[s].n = n0[s] + len(t)
	}
	if !hidden {
		return nil, nil
	}
	m.norm(xn, x, m.Weights.Norm, rows)
	return xn, nil
}

// norm is RMSNorm of the step's rows of x into dst, in parallel over row
// ranges (rows are independent, so the bits are the serial loop's).
func (m *Model) norm(dst, x, w []float32, rows int) {
	cfg := m.Config
	h := cfg.HiddenSize
	m.threads.Parallel(rows, max(1, 8192/h), func(lo, hi int) {
		RMSNorm(dst[lo*h:hi*h], x[lo*h:hi*h], w, hi-lo, h, cfg.RMSNormEps, cfg.NormPlusOne, nil)
	})
}

// addTo adds d to x element by element (the residual connection), in
// parallel.
func (m *Model) addTo(x, d []float32) {
	m.threads.Parallel(len(x), 8192, func(lo, hi int) {
		x, d := x[lo:hi], d[lo:hi]
		for i := range x {
			x[i] += d[i]
		}
	})
}

// gate computes the gated MLP's g = act(g)·u in place, in parallel over
// elements. SiLU, the common case, is tensor.SiluMul: Silu(g)·u with
// Silu's bits, vectorised.
func (m *Model) gate(g, u []float32) {
	if m.silu {
		m.threads.Parallel(len(g), 4096, func(lo, hi int) { tensor.SiluMul(g[lo:hi], u[lo:hi]) })
		return
	}
	act := m.act
	m.threads.Parallel(len(g), 4096, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			g[i] = act(g[i]) * u[i]
		}
	})
}

// attention computes causal (optionally sliding-window) grouped-query
// attention of the new rows of every sequence against its cache, one task
// per (sequence, head); tasks write disjoint columns of att. Queries go in
// blocks of qBlock rows, each scoring only the keys its last row can see,
// which skips most of the masked half of a long prefill.
func (m *Model) attention(l int, caches []*Cache, tokens [][]int, start, n0 []int, q, att []float32) {
	cfg := m.Config
	hd, nh, nkv, qd := cfg.HeadDim, cfg.NumHeads, cfg.NumKVHeads, cfg.QDim()
	group := nh / nkv
	scale := float32(1 / math.Sqrt(float64(hd)))
	window := cfg.SlidingWindow
	const qBlock = 64
	tasks := len(tokens) * nh
	inner := m.threads.Split(tasks) // products inside the loop
	m.threads.Parallel(tasks, 1, func(lo, hi int) {
		sc := attnPool.Get().(*attnScratch)
		defer attnPool.Put(sc)
		for t := lo; t < hi; t++ {
			s, head := t/nh, t%nh
			ns := len(tokens[s])
			if ns == 0 {
				continue
			}
			c := caches[s]
			sc.segs = c.segments(l, head/group, n0[s]+ns, sc.segs[:0])
			pos0 := c.pre + n0[s] // position of the first new row
			for b0 := 0; b0 < ns; b0 += qBlock {
				b1 := min(b0+qBlock, ns)
				m.attendBlock(inner, sc, q, att, start[s]+b0, b1-b0, pos0+b0, head, hd, qd, scale, window)
			}
		}
	})
}

// attnScratch is one attention goroutine's temporaries, reused from block
// to block and, through attnPool, from step to step (every buffer is
// written before it is read). A sync.Pool lets the collector drop them
// when the model is idle.
type attnScratch struct {
	qh, scores, out, part []float32
	segs, vs              []segment
}

var attnPool = sync.Pool{New: func() any { return new(attnScratch) }}

// attendBlock computes attention for nq consecutive query rows starting at
// row r0 (position p0) of one head, over the cached positions sc.segs.
func (m *Model) attendBlock(th tensor.Threads, sc *attnScratch, q, att []float32, r0, nq, p0, head, hd, qd int, scale float32, window int) {
	visible := p0 + nq // keys 0..visible-1 can be seen by some row
	// Trim the segments to the visible keys.
	vs := sc.vs[:0]
	n := 0
	for _, sg := range sc.segs {
		if n >= visible {
			break
		}
		k := min(sg.n, visible-n)
		vs = append(vs, segment{k: sg.k[:k*hd], v: sg.v[:k*hd], n: k})
		n += k
	}
	sc.vs = vs
	total := n
	sc.qh = tensor.Grow(sc.qh, nq*hd)
	qh := sc.qh
	for i := 0; i < nq; i++ {
		copy(qh[i*hd:(i+1)*hd], q[(r0+i)*qd+head*hd:(r0+i)*qd+(head+1)*hd])
	}
	sc.scores = tensor.Grow(sc.scores, nq*total)
	scores := sc.scores
	if len(vs) == 1 {
		th.MatMulNT(scores, qh, vs[0].k, nq, total, hd, false)
	} else {
		col := 0
		for _, sg := range vs {
			sc.part = tensor.Grow(sc.part, nq*sg.n)
			part := sc.part
			th.MatMulNT(part, qh, sg.k, nq, sg.n, hd, false)
			for i := 0; i < nq; i++ {
				copy(scores[i*total+col:i*total+col+sg.n], part[i*sg.n:(i+1)*sg.n])
			}
			col += sg.n
		}
	}
	// Row i sees keys lo..p: those are scaled and softmaxed, the masked
	// rest weigh zero.
	for i := 0; i < nq; i++ {
		p := p0 + i
		row := scores[i*total : (i+1)*total]
		lo := 0
		if window > 0 {
			lo = max(0, p-window+1)
		}
		clear(row[:lo])
		live := row[lo : p+1]
		tensor.Scale(live, scale)
		SoftmaxRow(live)
		clear(row[p+1:])
	}
	sc.out = tensor.Grow(sc.out, nq*hd)
	out := sc.out
	if len(vs) == 1 {
		th.MatMulNN(out, scores, vs[0].v, nq, hd, total, false)
	} else {
		col := 0
		for si, sg := range vs {
			sc.part = tensor.Grow(sc.part, nq*sg.n)
			part := sc.part
			for i := 0; i < nq; i++ {
				copy(part[i*sg.n:(i+1)*sg.n], scores[i*total+col:i*total+col+sg.n])
			}
			th.MatMulNN(out, part, sg.v, nq, hd, sg.n, si > 0)
			col += sg.n
		}
	}
	for i := 0; i < nq; i++ {
		copy(att[(r0+i)*qd+head*hd:(r0+i)*qd+(head+1)*hd], out[i*hd:(i+1)*hd])
	}
}

// stepPool holds Step's temporaries between calls.
var stepPool tensor.Pool

// Logits computes logits[rows × vocab] = hidden·LMHeadᵀ for final-normed
// hidden states (as returned by Step).
func (m *Model) Logits(hidden []float32, rows int) []float32 {
	return m.LogitsInto(make([]float32, rows*m.Config.VocabSize), hidden, rows)
}

// LogitsInto is Logits writing into dst (at least rows × vocab floats),
// so loops over many rows can reuse one buffer.
func (m *Model) LogitsInto(dst, hidden []float32, rows int) []float32 {
	V, h := m.Config.VocabSize, m.Config.HiddenSize
	m.threads.MatMulNT(dst[:rows*V], hidden[:rows*h], m.Weights.LMHead, rows, V, h, false)
	return dst[:rows*V]
}

// Forward returns the logits of every position of one sequence,
// row-major [len(ids) × vocab].
func (m *Model) Forward(ids []int) ([]float32, error) {
	hs, err := m.Step([]*Cache{m.NewCache()}, [][]int{ids})
	if err != nil {
		return nil, err
	}
	return m.Logits(hs, len(ids)), nil
}

// logitChunk bounds the rows of logits held at once (rows × vocab floats).
const logitChunk = 64

// NLL returns the next-token negative log-likelihood (natural log) at each
// position of ids: nll[i] = −log p(ids[i+1] | ids[:i+1]), len(ids)−1 values.
func (m *Model) NLL(ids []int) ([]float64, error) {
	out, err := m.NLLBatch([][]int{ids})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// NLLBatch is NLL for several sequences run as one batch.
func (m *Model) NLLBatch(seqs [][]int) ([][]float64, error) {
	caches := make([]*Cache, len(seqs))
	for i := range caches {
		caches[i] = m.NewCache()
	}
	hs, err := m.Step(caches, seqs)
	if err != nil {
		return nil, err
	}
	h, V := m.Config.HiddenSize, m.Config.VocabSize
	// Targets per row; the last row of each sequence has none.
	var rowsWant []int // row index for each needed position
	var target []int
	out := make([][]float64, len(seqs))
	row := 0
	for s, ids := range seqs {
		out[s] = make([]float64, max(len(ids)-1, 0))
		for i := 0; i+1 < len(ids); i++ {
			rowsWant = append(rowsWant, row+i)
			target = append(target, ids[i+1])
		}
		row += len(ids)
	}
	nlls := make([]float64, len(rowsWant))
	buf := make([]float32, logitChunk*h)
	lgBuf := make([]float32, min(logitChunk, len(rowsWant))*V)
	for c0 := 0; c0 < len(rowsWant); c0 += logitChunk {
		c1 := min(c0+logitChunk, len(rowsWant))
		for i := c0; i < c1; i++ {
			copy(buf[(i-c0)*h:(i-c0+1)*h], hs[rowsWant[i]*h:(rowsWant[i]+1)*h])
		}
		lg := m.LogitsInto(lgBuf, buf, c1-c0)
		m.threads.Parallel(c1-c0, 8, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				r := lg[i*V : (i+1)*V]
				nlls[c0+i] = tensor.LogSumExpExact(r) - float64(r[target[c0+i]])
			}
		})
	}
	k := 0
	for s := range out {
		for i := range out[s] {
			out[s][i] = nlls[k]
			k++
		}
	}
	return out, nil
}
