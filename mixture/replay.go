package mixture

import (
	"fmt"
	"math"

	"github.com/crossin-lab/crossin/mixture/nprand"
)

// Numpy sampling replays the draws of CrossIn's reference builder (GitHub
// Lingy12/CrossIn, build_dataset.py and build_dataset_with_alignment.py),
// which samples with numpy's legacy global RandomState after
// np.random.seed(seed). Given the same source files and seed, a mixture
// built with it holds the reference's items in the reference's order:
//
//   - Base (build_dataset.py): np.random.choice(n, size, replace=False),
//     i.e. the first size entries of permutation(n) over the set's n rows
//     (size n for "all", as the reference always takes the whole English
//     set: Open-Platypus shuffled).
//   - en2x, x2en and trans (its modes 1, 2 and 3): first one
//     np.random.choice(len, ..., replace=False) per language, in the spec's
//     language order, whose draws are a full permutation of that
//     language's rows each (the reference builds a sample it never uses,
//     but the draws move the stream); then the non-English language of
//     every record, np.random.choice(languages, size=N, p) with p 0 for
//     English and uniform over the others; then per record the item,
//     np.random.choice(len(English set)). N is the volume, or the size of
//     the English set for "all": draws with replacement either way. The
//     three modes share these draws, so en2x, x2en and trans parts with the
//     same seed and volume use the same (item, language) sequence, as the
//     reference's single build does.
//   - Records are not shuffled: Base first, then en2x, x2en, x2x, trans, as
//     the reference concatenates Platypus and its modes 1, 2, 3 (its
//     trainer shuffles at load time, as crossin's do).
//
// The reference writes mode 1 as English instruction and input + "\n[xx]",
// output in xx; mode 2 as the xx instruction and input + "\n[en]", English
// output; mode 3 as instruction "Translate the following sentence into
// English.", the xx instruction as input, the English instruction as
// output. These are crossin's code marker and parallel trans records, so
// numpy sampling changes which items are drawn, never how records look.
//
// Where the reference has no counterpart, crossin extends it, documented
// here: the English zero in p sits at English's position in the language
// list (the reference puts it first, and lists English first); trans may
// also run en2x (pairs mirrored); x2x, which the released builder does not
// make, draws per record the item np.random.choice(n), then the source and
// the target language np.random.choice(len(languages)) each, redrawing the
// target while it equals the source unless allow_same is set.
const Numpy Sampling = "numpy"

// numpySeed returns a seed as np.random.seed takes it.
func numpySeed(seed uint64) (uint32, error) {
	if seed > math.MaxUint32 {
		// A spec's negative seed arrives as its two's complement.
		return 0, fmt.Errorf("seed %d: sampling numpy takes seeds in [0, 2^32), as np.random.seed does (the reference builder uses 0)", int64(seed))
	}
	return uint32(seed), nil
}

// checkNumpy reports settings that numpy sampling cannot replay.
func checkNumpy(sp Spec, v Variant) error {
	if _, err := numpySeed(variantSeed(sp, v)); err != nil {
		return err
	}
	if v.Sources.MinScore > 0 {
		return fmt.Errorf("sampling numpy replays the reference builder, which filters no record; drop min_score (%g) or sample otherwise", v.Sources.MinScore)
	}
	if len(v.Pairs) > 0 || (v.Mode == Trans && v.Direction != DirX2En && v.Direction != DirEn2X) {
		return fmt.Errorf("sampling numpy makes trans pairs as the reference does (direction x2en, or en2x mirrored); direction %q and pairs have no reference draws", v.Direction)
	}
	return nil
}

// variantSeed is the seed a variant draws with.
func variantSeed(sp Spec, v Variant) uint64 {
	if v.Seed != nil {
		return *v.Seed
	}
	return sp.Seed
}

// drawNumpy draws one variant's records as the reference builder does, in
// its order (see Numpy). Every source item must be present in every
// language: the reference indexes each language file by position.
func drawNumpy(sp Spec, v Variant, pl pool) ([]Record, error) {
	seed, err := numpySeed(variantSeed(sp, v))
	if err != nil {
		return nil, err
	}
	r := nprand.New(seed)
	n := pl.items()
	name := func(i int) string { return fmt.Sprintf("%s-%06d", v.Name, i+1) }
	if n == 0 {
		return nil, fmt.Errorf("no source items")
	}
	for _, l := range v.Languages {
		for k := 0; k < n; k++ {
			if !pl.has(l, k) {
				return nil, fmt.Errorf("sampling numpy: item %d has no %s record; the reference builder indexes every language file by position, so every file must hold every row (align: \"index\", same number of records)", k, l)
			}
		}
	}
	count := v.Count
	if count == All {
		count = n
	}
	if v.Mode == Base {
		idx, err := r.ChoiceNoReplace(n, count)
		if err != nil {
			return nil, fmt.Errorf("volume %d is larger than the English set (%d records); the reference's np.random.choice(replace=False) fails there too; use a volume up to %d or all", count, n, n)
		}
		out := make([]Record, count)
		p := Pair{v.Languages[0], v.Languages[0]}
		for i, k := range idx {
			out[i] = pl.make(v, p, k, sp)
			out[i].ID = name(i)
		}
		return out, nil
	}
	langs := v.Languages
	out := make([]Record, count)
	if v.Mode == X2X {
		for i := range out {
			k := r.Choice(n)
			a := r.Choice(len(langs))
			b := r.Choice(len(langs))
			for !v.AllowSame && b == a {
				b = r.Choice(len(langs))
			}
			out[i] = pl.make(v, Pair{langs[a], langs[b]}, k, sp)
			out[i].ID = name(i)
		}
		return out, nil
	}
	en := -1
	for i, l := range langs {
		if l == sp.English {
			en = i
		}
	}
	if en < 0 {
		return nil, fmt.Errorf("sampling numpy: %s needs the English pivot %s among the languages %v", v.Mode, sp.English, langs)
	}
	if count > n {
		return nil, fmt.Errorf("volume %d is larger than the source's %d items; the reference builder's per-language np.random.choice(replace=False) fails there too; use a volume up to %d or all", count, n, n)
	}
	for range langs {
		r.Permutation(n)
	}
	p := make([]float64, len(langs))
	for i := range p {
		if i != en {
			p[i] = 1 / float64(len(langs)-1)
		}
	}
	sel, err := r.ChoiceP(p, count)
	if err != nil {
		return nil, err
	}
	for i := range out {
		k := r.Choice(n)
		x := langs[sel[i]]
		pair := Pair{sp.English, x} // en2x, trans en2x
		if v.Mode == X2En || (v.Mode == Trans && v.Direction == DirX2En) {
			pair = Pair{x, sp.English}
		}
		out[i] = pl.make(v, pair, k, sp)
		out[i].ID = name(i)
	}
	return out, nil
}
