package schema

import "cuelang.org/go/cue"

func (l *loader) backend(v cue.Value) *Backend {
	var b Backend
	if !l.decodeInto(v, &b) {
		return nil
	}
	b.Name, b.Pos = label(v), l.pos(v)
	if b.Kind == BackendContainer && b.Runtime == "" {
		b.Runtime = "podman"
	}
	return &b
}
