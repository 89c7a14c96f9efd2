package schema

import (
	"cuelang.org/go/cue"
)

func (l *loader) model(v cue.Value) *Model {
	var raw struct {
		Family   string     `json:"family"`
		DType    string     `json:"dtype"`
		Template string     `json:"template"`
		Hub      *Hub       `json:"hub"`
		Path     string     `json:"path"`
		Init     *ModelInit `json:"init"`
	}
	if !l.decodeInto(v, &raw) {
		return nil
	}
	m := &Model{Name: label(v), Family: raw.Family, DType: raw.DType, Template: raw.Template, Hub: raw.Hub, Init: raw.Init, Pos: l.pos(v)}
	l.exactlyOne(v, "hub", "path", "init")
	if raw.Path != "" {
		pv := v.LookupPath(cue.ParsePath("path"))
		m.Path = l.localPath(pv, raw.Path)
		l.mustExist(pv, m.Path, true)
	}
	if m.Init != nil {
		tv := v.LookupPath(cue.ParsePath("init.tokenizer"))
		m.Init.Tokenizer = l.localPath(tv, m.Init.Tokenizer)
		l.mustExist(tv, m.Init.Tokenizer, false)
		if m.Init.NumAttentionHeads > 0 && m.Init.HiddenSize%m.Init.NumAttentionHeads != 0 {
			l.is.add(l.pos(v), pathOf(v)+".init", "hidden_size %d is not a multiple of num_attention_heads %d", m.Init.HiddenSize, m.Init.NumAttentionHeads)
		}
		if m.Init.NumKeyValueHeads > 0 && m.Init.NumAttentionHeads%m.Init.NumKeyValueHeads != 0 {
			l.is.add(l.pos(v), pathOf(v)+".init", "num_attention_heads %d is not a multiple of num_key_value_heads %d", m.Init.NumAttentionHeads, m.Init.NumKeyValueHeads)
		}
	}
	return m
}
