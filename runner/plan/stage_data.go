package plan

import (
	"fmt"
	"sort"

	"github.com/crossin-lab/crossin/schema"
)

func (b *builder) dataStage(m *schema.Mixture, cell string) (*Stage, error) {
	dp := &DataParams{Mixture: m}
	s := &Stage{ID: "data/" + m.Name, Kind: KindData, Cells: []string{cell}, Data: dp}
	type partKey struct {
		Variant   string        `json:"variant"`
		Volume    schema.Volume `json:"volume"`
		Languages []string      `json:"languages"`
		Seed      int64         `json:"seed"`
		Sampling  string        `json:"sampling"`
		Marker    string        `json:"marker,omitempty"`
		Direction string        `json:"direction,omitempty"`
		AllowSame bool          `json:"allow_same,omitempty"`
		Source    any           `json:"source"`
	}
	seen := map[string]bool{}
	var parts []partKey
	addPart := func(variant string, p *schema.Part) error {
		src := b.spec.DataSource(p.Source)
		if src == nil {
			return fmt.Errorf("mixture %s: unknown data source %q", m.Name, p.Source)
		}
		if !seen[src.Name] {
			seen[src.Name] = true
			dp.Sources = append(dp.Sources, src)
		}
		content, commit, unres, err := b.sourceContent(src)
		if err != nil {
			return err
		}
		if commit != "" {
			if dp.Commits == nil {
				dp.Commits = map[string]string{}
			}
			dp.Commits[src.Name] = commit
		}
		s.Unresolved = append(s.Unresolved, unres...)
		parts = append(parts, partKey{Variant: variant, Volume: p.Volume, Languages: p.Languages, Seed: p.Seed,
			Sampling: p.Sampling, Marker: p.Marker, Direction: p.Direction, AllowSame: p.AllowSame, Source: content})
		return nil
	}
	if m.Base != nil {
		if err := addPart("base", m.Base); err != nil {
			return nil, err
		}
	}
	for i := range m.Variants {
		if err := addPart(m.Variants[i].Variant, &m.Variants[i].Part); err != nil {
			return nil, err
		}
	}
	sort.Slice(dp.Sources, func(i, j int) bool { return dp.Sources[i].Name < dp.Sources[j].Name })
	s.static = []Component{{Name: "mixture", Value: value(parts)}}
	return b.add(s, ""), nil
}

// sourceContent is the key of a data source: format, alignment, languages
// and the content hash of each file (or the pinned hub repository).
func (b *builder) sourceContent(d *schema.DataSource) (any, string, []string, error) {
	type key struct {
		Format    string            `json:"format"`
		Align     string            `json:"align"`
		Languages []string          `json:"languages"`
		Files     map[string]string `json:"files,omitempty"` // language -> sha256 (local) or repo path (hub)
		Path      string            `json:"path,omitempty"`  // sha256 (local) or repo path (hub)
		Hub       map[string]string `json:"hub,omitempty"`
		MinScore  float64           `json:"min_score,omitempty"`
	}
	k := key{Format: d.Format, Align: d.Align, Languages: d.Languages, MinScore: d.MinScore}
	if b.content == nil {
		b.content = map[string]any{}
	}
	var commit string
	var unres []string
	if d.Hub != nil {
		commit, unres = b.revision("dataset", d.Hub)
		k.Hub = hubContent(d.Hub, commit)
		k.Files, k.Path = d.Files, d.Path
		return k, commit, unres, nil
	}
	if c, ok := b.content["data/"+d.Name]; ok {
		return c, "", nil, nil
	}
	if len(d.Files) > 0 {
		k.Files = map[string]string{}
		for lang, f := range d.Files {
			h, err := b.cfg.hashFile(f)
			if err != nil {
				return nil, "", nil, fmt.Errorf("data source %s (%s): %w", d.Name, lang, err)
			}
			k.Files[lang] = h
		}
	}
	if d.Path != "" {
		h, err := HashTree(d.Path, b.cfg.hashFile)
		if err != nil {
			return nil, "", nil, fmt.Errorf("data source %s: %w", d.Name, err)
		}
		k.Path = h
	}
	b.content["data/"+d.Name] = k
	return k, "", nil, nil
}
