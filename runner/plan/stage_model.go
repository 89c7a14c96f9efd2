package plan

import (
	"fmt"
	"os"
	"strings"

	"github.com/crossin-lab/crossin/schema"
)

func (b *builder) modelStage(m *schema.Model, cell string) (*Stage, error) {
	s := &Stage{ID: "model/" + m.Name, Kind: KindModel, Cells: []string{cell}, Model: &ModelParams{Model: m}}
	var source any
	switch {
	case m.Hub != nil:
		commit, unres := b.revision("model", m.Hub)
		s.Model.Commit, s.Unresolved = commit, unres
		source = map[string]any{"hub": hubContent(m.Hub, commit)}
	case m.Path != "":
		h, err := HashTree(m.Path, b.cfg.hashFile)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", m.Name, err)
		}
		source = map[string]any{"local": h}
	case m.Init != nil:
		tok, err := b.cfg.hashFile(m.Init.Tokenizer)
		if err != nil {
			return nil, fmt.Errorf("model %s: tokenizer: %w", m.Name, err)
		}
		cfg := *m.Init
		cfg.Tokenizer = tok
		init := map[string]any{"init": cfg}
		// model.Init copies the tokenizer_config.json beside the tokenizer
		// (its BOS/EOS and chat template); it counts when present.
		tc := strings.TrimSuffix(m.Init.Tokenizer, "tokenizer.json") + "tokenizer_config.json"
		if _, err := os.Stat(tc); err == nil && tc != m.Init.Tokenizer {
			h, err := b.cfg.hashFile(tc)
			if err != nil {
				return nil, fmt.Errorf("model %s: tokenizer config: %w", m.Name, err)
			}
			init["tokenizer_config"] = h
		}
		source = init
	}
	s.static = []Component{
		{Name: "source", Value: value(source)},
		{Name: "format", Value: value(map[string]string{"family": m.Family, "dtype": m.DType})},
	}
	return b.add(s, ""), nil
}
