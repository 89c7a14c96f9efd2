package mixture

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/crossin-lab/crossin/dataset"
)

// allowedPairs lists a variant's (source, target) language pairs in a fixed
// order; every record draws one uniformly. For en2x this makes the target
// uniform over the non-English languages; for x2x, drawing an ordered pair
// of distinct languages uniformly is the same as drawing both languages
// independently and redrawing when they are equal.
func allowedPairs(sp Spec, v Variant) []Pair {
	var out []Pair
	en := sp.English
	switch v.Mode {
	case Base:
		out = []Pair{{v.Languages[0], v.Languages[0]}}
	case En2X:
		for _, l := range v.Languages {
			if l != en {
				out = append(out, Pair{en, l})
			}
		}
	case X2En:
		for _, l := range v.Languages {
			if l != en {
				out = append(out, Pair{l, en})
			}
		}
	case X2X:
		for _, a := range v.Languages {
			for _, b := range v.Languages {
				if a != b || v.AllowSame {
					out = append(out, Pair{a, b})
				}
			}
		}
	case Trans:
		if len(v.Pairs) > 0 {
			return v.Pairs
		}
		for _, l := range v.Languages {
			if l == en {
				continue
			}
			switch v.Direction {
			case DirX2En:
				out = append(out, Pair{l, en})
			case DirEn2X:
				out = append(out, Pair{en, l})
			case DirBoth:
				out = append(out, Pair{l, en}, Pair{en, l})
			}
		}
		if v.Direction == DirAny {
			for _, a := range v.Languages {
				for _, b := range v.Languages {
					if a != b {
						out = append(out, Pair{a, b})
					}
				}
			}
		}
	}
	return out
}

// pool abstracts the source items of a variant.
type pool interface {
	items() int
	has(lang string, k int) bool
	make(v Variant, p Pair, k int, sp Spec) Record
	lang(l string) int
}

type parallelPool struct{ p *dataset.Parallel }

func (pp parallelPool) items() int { return len(pp.p.IDs) }

func (pp parallelPool) lang(l string) int { return pp.p.LangIndex(l) }

func (pp parallelPool) has(l string, k int) bool {
	return pp.p.Recs[pp.p.LangIndex(l)][k] != nil
}

func (pp parallelPool) make(v Variant, p Pair, k int, sp Spec) Record {
	src := pp.p.Recs[pp.p.LangIndex(p.Src)][k]
	tgt := pp.p.Recs[pp.p.LangIndex(p.Tgt)][k]
	r := Record{
		Mode: v.Mode, SrcLang: p.Src, TgtLang: p.Tgt,
		Instruction: src.Instruction, Input: src.Input, Output: tgt.Output,
		SourceIDs: []string{p.Src + ":" + src.ID},
	}
	if p.Tgt != p.Src {
		r.SourceIDs = append(r.SourceIDs, p.Tgt+":"+tgt.ID)
	}
	addMarker(&r, v.Marker)
	return r
}

type sentencePool struct{ s *dataset.Sentences }

func (sp sentencePool) items() int { return len(sp.s.IDs) }

func (sp sentencePool) lang(l string) int { return sp.s.LangIndex(l) }

func (sp sentencePool) has(l string, k int) bool {
	return sp.s.Text[sp.s.LangIndex(l)][k] != ""
}

func (sp sentencePool) make(v Variant, p Pair, k int, _ Spec) Record {
	id := sp.s.IDs[k]
	r := Record{
		Mode: v.Mode, SrcLang: p.Src, TgtLang: p.Tgt,
		Instruction: transInstruction(p.Tgt),
		Input:       sp.s.Text[sp.s.LangIndex(p.Src)][k],
		Output:      sp.s.Text[sp.s.LangIndex(p.Tgt)][k],
		SourceIDs:   []string{p.Src + ":" + id, p.Tgt + ":" + id},
	}
	addMarker(&r, v.Marker)
	return r
}

type basePool struct{ s *dataset.Set }

func (bp basePool) items() int { return len(bp.s.Records) }

func (bp basePool) lang(string) int { return 0 }

func (bp basePool) has(string, int) bool { return true }

func (bp basePool) make(v Variant, p Pair, k int, _ Spec) Record {
	src := &bp.s.Records[k]
	r := Record{
		Mode: v.Mode, SrcLang: p.Src, TgtLang: p.Tgt,
		Instruction: src.Instruction, Input: src.Input, Output: src.Output,
		SourceIDs: []string{p.Src + ":" + src.ID},
	}
	addMarker(&r, v.Marker)
	return r
}

func addMarker(r *Record, m Marker) {
	switch m {
	case MarkerCode:
		r.Input += "\n[" + r.TgtLang + "]"
	case MarkerInstruction:
		r.Instruction += " Answer in " + dataset.LanguageNames[r.TgtLang] + "."
	}
}

// poolOf returns the source items variant v draws from.
func poolOf(v Variant, in *Inputs) pool {
	switch {
	case v.Mode == Base:
		return basePool{in.English}
	case v.Mode == Trans && in.Sentences != nil:
		return sentencePool{in.Sentences}
	case v.Mode == Trans:
		return parallelTransPool{parallelPool{in.Parallel}}
	default:
		return parallelPool{in.Parallel}
	}
}

// allCount is the number of records Count All draws with replacement: as
// many as the source has items, which the reference builder counts on the
// English set (len of its English file).
func allCount(sp Spec, v Variant, pl pool) int {
	n := pl.items()
	if pl.lang(sp.English) < 0 {
		return n
	}
	m := 0
	for k := 0; k < n; k++ {
		if pl.has(sp.English, k) {
			m++
		}
	}
	return m
}

// drawVariant draws one variant's records in draw order.
func drawVariant(sp Spec, v Variant, in *Inputs, rng *rand.Rand) ([]Record, int, error) {
	pl := poolOf(v, in)
	pairs := allowedPairs(sp, v)
	if len(pairs) == 0 {
		return nil, 0, fmt.Errorf("no language pair to draw from (languages %v)", v.Languages)
	}
	n := pl.items()
	name := func(i int) string { return fmt.Sprintf("%s-%06d", v.Name, i+1) }

	// Base is a subset of the English set: every item at most once.
	if v.Mode == Base {
		count := v.Count
		if count == All {
			count = n
		}
		if count > n {
			return nil, 0, fmt.Errorf("asked for %d records but the English set has %d; use a smaller count or all", count, n)
		}
		var perm []int
		if v.Count == All {
			perm = make([]int, n)
			for i := range perm {
				perm[i] = i
			}
		} else {
			perm = rng.Perm(n)[:count]
		}
		out := make([]Record, count)
		for i, k := range perm {
			out[i] = pl.make(v, pairs[0], k, sp)
			out[i].ID = name(i)
		}
		return out, 0, nil
	}

	if v.Count == All && v.Sampling == WithoutReplacement {
		// Every item once, with a pair drawn among those it can serve.
		var out []Record
		skipped := 0
		cand := make([]Pair, 0, len(pairs))
		for k := 0; k < n; k++ {
			cand = cand[:0]
			for _, p := range pairs {
				if pl.has(p.Src, k) && pl.has(p.Tgt, k) {
					cand = append(cand, p)
				}
			}
			if len(cand) == 0 {
				skipped++
				continue
			}
			r := pl.make(v, cand[rng.IntN(len(cand))], k, sp)
			r.ID = name(len(out))
			out = append(out, r)
		}
		if len(out) == 0 {
			return nil, skipped, fmt.Errorf("no source item has a usable language pair among %s", pairString(pairs))
		}
		return out, skipped, nil
	}

	// Items per pair, built on first use.
	pools := make([][]int32, len(pairs))
	built := make([]bool, len(pairs))
	cursor := make([]int, len(pairs))
	var used []bool
	if v.Sampling == WithoutReplacement {
		used = make([]bool, n)
	}
	getPool := func(pi int) ([]int32, error) {
		if built[pi] {
			return pools[pi], nil
		}
		p := pairs[pi]
		var items []int32
		for k := 0; k < n; k++ {
			if pl.has(p.Src, k) && pl.has(p.Tgt, k) {
				items = append(items, int32(k))
			}
		}
		if len(items) == 0 {
			return nil, fmt.Errorf("no source item has both %s and %s; drop the language or supply its data", p.Src, p.Tgt)
		}
		if used != nil {
			rng.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
		}
		pools[pi], built[pi] = items, true
		return items, nil
	}
	count := v.Count
	if count == All {
		count = allCount(sp, v, pl)
	}
	out := make([]Record, count)
	for i := 0; i < count; i++ {
		pi := rng.IntN(len(pairs))
		items, err := getPool(pi)
		if err != nil {
			return nil, 0, err
		}
		var k int
		if used == nil {
			k = int(items[rng.IntN(len(items))])
		} else {
			for cursor[pi] < len(items) && used[items[cursor[pi]]] {
				cursor[pi]++
			}
			if cursor[pi] == len(items) {
				return nil, 0, fmt.Errorf("without replacement: %d records asked, but the items with %s>%s ran out after %d records; lower the count or sample with replacement", v.Count, pairs[pi].Src, pairs[pi].Tgt, i)
			}
			k = int(items[cursor[pi]])
			used[k] = true
		}
		out[i] = pl.make(v, pairs[pi], k, sp)
		out[i].ID = name(i)
	}
	return out, 0, nil
}

func pairString(ps []Pair) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.Src+">"+p.Tgt)
	}
	return strings.Join(s, ", ")
}
