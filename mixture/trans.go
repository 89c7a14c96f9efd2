package mixture

import "github.com/crossin-lab/crossin/dataset"

// transInstruction is the instruction of a translation record. The
// reference builder only makes x2en records, whose instruction is exactly
// "Translate the following sentence into English."; other directions name
// their target language the same way.
func transInstruction(tgt string) string {
	return "Translate the following sentence into " + dataset.LanguageNames[tgt] + "."
}

// parallelTransPool makes trans records from the parallel instruction set,
// as the reference builder does (its mode 3): the item's instruction in the
// source language is the input, the same item's instruction in the target
// language is the output. The item's input and output fields are not used.
// This is the default for trans; a multi-way sentence file (FLORES style,
// sentencePool) is the alternative.
type parallelTransPool struct{ parallelPool }

func (tp parallelTransPool) make(v Variant, p Pair, k int, _ Spec) Record {
	src := tp.p.Recs[tp.p.LangIndex(p.Src)][k]
	tgt := tp.p.Recs[tp.p.LangIndex(p.Tgt)][k]
	r := Record{
		Mode: v.Mode, SrcLang: p.Src, TgtLang: p.Tgt,
		Instruction: transInstruction(p.Tgt),
		Input:       src.Instruction,
		Output:      tgt.Instruction,
		SourceIDs:   []string{p.Src + ":" + src.ID, p.Tgt + ":" + tgt.ID},
	}
	addMarker(&r, v.Marker)
	return r
}
