package tokenizer

import (
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"unicode/utf8"
)

// sym is one token of a BPE word: its id and its length in bytes of the word.
type sym struct {
	id, n int32
}

type mergeVal struct{ rank, id int32 }

// bpe is the BPE model of tokenizer.json, Hugging Face's algorithm exactly:
// a word starts as one symbol per char (or byte-fallback tokens), then the
// lowest-ranked adjacent pair is merged repeatedly, ties to the left.
type bpe struct {
	vocab        map[string]int32
	merges       map[uint64]mergeVal
	unk          int32 // -1: no unk token
	prefix       string
	suffix       string
	byteFallback bool
	fuseUnk      bool
	ignoreMerges bool
	byteTok      [256]int32 // id of "<0xXX>", -1 when absent
	cache        *wordCache
	// lowRune[r] is the id of the one-char token r for r < len(lowRune)
	// (-1: not in the vocabulary), covering ASCII and the byte-level
	// alphabet without a map lookup. Unused with a prefix or suffix.
	lowRune [0x144]int32
	scratch sync.Pool // *mergeScratch
}

// mergeScratch is the reusable working memory of mergeWord.
type mergeScratch struct {
	nodes []node
	q     mqueue
}

func (m *bpe) initLowRune() {
	for r := range m.lowRune {
		m.lowRune[r] = -1
		if id, ok := m.vocab[string(rune(r))]; ok {
			m.lowRune[r] = id
		}
	}
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// tokenize appends the symbols of word to dst.
func (m *bpe) tokenize(dst []sym, word string) []sym {
	if word == "" {
		return dst
	}
	if m.ignoreMerges {
		if id, ok := m.vocab[word]; ok {
			return append(dst, sym{id, int32(len(word))})
		}
	}
	if syms, ok := m.cache.get(word); ok {
		return append(dst, syms...)
	}
	start := len(dst)
	dst = m.mergeWord(dst, word)
	m.cache.put(word, dst[start:])
	return dst
}

// node is a symbol in the doubly linked list being merged.
type node struct {
	id, n      int32
	prev, next int32
}

// qitem is a candidate merge at position pos; the queue is a min-heap on
// (rank, pos), as in Hugging Face's Word::merge_all.
type qitem struct{ rank, pos, id, left, right int32 }

func less(a, b qitem) bool {
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.pos < b.pos
}

type mqueue []qitem

func (q *mqueue) push(x qitem) {
	h := append(*q, x)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !less(h[i], h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	*q = h
}

func (q *mqueue) pop() qitem {
	h := *q
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		c := l
		if r := l + 1; r < len(h) && less(h[r], h[l]) {
			c = r
		}
		if !less(h[c], h[i]) {
			break
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
	*q = h
	return top
}

func (m *bpe) mergeWord(dst []sym, w string) []sym {
	sc, _ := m.scratch.Get().(*mergeScratch)
	if sc == nil {
		sc = &mergeScratch{}
	}
	defer m.scratch.Put(sc)
	nodes := sc.nodes[:0]
	add := func(id int32, n int) {
		k := int32(len(nodes))
		nodes = append(nodes, node{id: id, n: int32(n), prev: k - 1, next: k + 1})
	}
	plain := m.prefix == "" && m.suffix == ""
	var unkID, unkLen int32 = -1, 0
	for i := 0; i < len(w); {
		r, size := utf8.DecodeRuneInString(w[i:])
		if plain && r < rune(len(m.lowRune)) && m.lowRune[r] >= 0 {
			if unkID >= 0 {
				add(unkID, int(unkLen))
				unkID = -1
			}
			add(m.lowRune[r], size)
			i += size
			continue
		}
		s := w[i : i+size]
		isFirst, isLast := i == 0, i+size == len(w)
		if (!isFirst && m.prefix != "") || (isLast && m.suffix != "") {
			var b strings.Builder
			if !isFirst {
				b.WriteString(m.prefix)
			}
			b.WriteString(s)
			if isLast {
				b.WriteString(m.suffix)
			}
			s = b.String()
		}
		i += size
		if id, ok := m.vocab[s]; ok {
			if unkID >= 0 {
				add(unkID, int(unkLen))
				unkID = -1
			}
			add(id, size)
			continue
		}
		if m.byteFallback {
			ok := true
			for k := 0; k < len(s); k++ {
				if m.byteTok[s[k]] < 0 {
					ok = false
					break
				}
			}
			if ok {
				// Hugging Face does not flush a pending unk here either.
				for k := 0; k < len(s); k++ {
					add(m.byteTok[s[k]], 1)
				}
				continue
			}
		}
		if m.unk >= 0 {
			switch {
			case unkID >= 0 && m.fuseUnk:
				unkLen += int32(size)
			case unkID >= 0:
				add(unkID, int(unkLen))
				unkID, unkLen = m.unk, int32(size)
			default:
				unkID, unkLen = m.unk, int32(size)
			}
		}
	}
	if unkID >= 0 {
		add(unkID, int(unkLen))
	}
	defer func() { sc.nodes = nodes[:0] }()
	if len(nodes) == 0 {
		return dst
	}
	nodes[len(nodes)-1].next = -1

	q := sc.q[:0]
	defer func() { sc.q = q[:0] }()
	for k := 0; k+1 < len(nodes); k++ {
		if mv, ok := m.merges[pairKey(nodes[k].id, nodes[k+1].id)]; ok {
			q.push(qitem{mv.rank, int32(k), mv.id, nodes[k].id, nodes[k+1].id})
		}
	}
	for len(q) > 0 {
		top := q.pop()
		cur := &nodes[top.pos]
		if cur.n == 0 || cur.next == -1 {
			continue
		}
		nextPos := cur.next
		right := nodes[nextPos]
		// Hugging Face's staleness test: the current pair must merge into
		// the same token. An unchanged pair trivially does (no lookup).
		if cur.id != top.left || right.id != top.right {
			if mv, ok := m.merges[pairKey(cur.id, right.id)]; !ok || mv.id != top.id {
				continue // stale entry
			}
		}
		cur.id = top.id
		cur.n += right.n
		cur.next = right.next
		nodes[nextPos].n = 0
		if right.next >= 0 && int(right.next) < len(nodes) {
			nodes[right.next].prev = top.pos
		}
		if cur.prev >= 0 {
			if mv, ok := m.merges[pairKey(nodes[cur.prev].id, cur.id)]; ok {
				q.push(qitem{mv.rank, cur.prev, mv.id, nodes[cur.prev].id, cur.id})
			}
		}
		if cur.next >= 0 && int(cur.next) < len(nodes) {
			if mv, ok := m.merges[pairKey(cur.id, nodes[cur.next].id)]; ok {
				q.push(qitem{mv.rank, top.pos, mv.id, cur.id, nodes[cur.next].id})
			}
		}
	}
	for _, nd := range nodes {
		if nd.n != 0 {
			dst = append(dst, sym{nd.id, nd.n})
		}
	}
	return dst
}

// wordCache memoises the BPE result of short words. It is sharded to keep
// lock contention low under EncodeBatch and stops growing when full (as
// Hugging Face's cache does), so memory stays bounded.
type wordCache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
}

const (
	cacheShards   = 32
	cacheShardCap = 4096
	cacheMaxWord  = 256
)

type cacheShard struct {
	mu sync.RWMutex
	m  map[string][]sym
}

func newWordCache() *wordCache {
	c := &wordCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[string][]sym)
	}
	return c
}

func (c *wordCache) shard(w string) *cacheShard {
	return &c.shards[maphash.String(c.seed, w)%cacheShards]
}

func (c *wordCache) get(w string) ([]sym, bool) {
	if c == nil || len(w) > cacheMaxWord {
		return nil, false
	}
	s := c.shard(w)
	s.mu.RLock()
	v, ok := s.m[w]
	s.mu.RUnlock()
	return v, ok
}

func (c *wordCache) put(w string, syms []sym) {
	if c == nil || len(w) > cacheMaxWord {
		return
	}
	s := c.shard(w)
	s.mu.Lock()
	if len(s.m) < cacheShardCap {
		s.m[strings.Clone(w)] = append([]sym(nil), syms...)
	}
	s.mu.Unlock()
}

// byteFallbackToken is the vocabulary entry of byte b ("<0xE8>").
func byteFallbackToken(b byte) string { return fmt.Sprintf("<0x%02X>", b) }
