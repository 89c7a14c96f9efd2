package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// ParseLayouts reads the layouts an experiment declares in its `report`
// field (schema.Experiment.Report). Two shapes are accepted:
//
//	report: layouts: {main: {...}, volume: {...}}   // named layouts
//	report: {kind: "main", rows: [...], ...}        // one layout, named "main"
//
// Declared layouts replace the built-in layout of the same name; the other
// built-in layouts stay available. The result is sorted by name, with the
// declared "main" (or the built-in one) first.
func ParseLayouts(raw json.RawMessage) ([]Layout, error) {
	byName := map[string]Layout{}
	for _, l := range DefaultLayouts() {
		byName[l.Name] = l
	}
	if len(bytes.TrimSpace(raw)) > 0 && string(bytes.TrimSpace(raw)) != "null" {
		var named struct {
			Layouts map[string]json.RawMessage `json:"layouts"`
		}
		if err := json.Unmarshal(raw, &named); err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
		if named.Layouts == nil {
			named.Layouts = map[string]json.RawMessage{"main": raw}
		}
		for name, r := range named.Layouts {
			l, err := decodeLayout(r)
			if err != nil {
				return nil, fmt.Errorf("report layout %q: %w", name, err)
			}
			l.Name = name
			if l.Title == "" {
				l.Title = byName[name].Title // the built-in layout's, if any
			}
			if _, err := l.normalize(); err != nil {
				return nil, err
			}
			byName[name] = l
		}
	}
	var out []Layout
	if m, ok := byName["main"]; ok {
		out = append(out, m)
		delete(byName, "main")
	}
	for _, n := range sortedKeys(byName) {
		out = append(out, byName[n])
	}
	return out, nil
}

// decodeLayout decodes one layout, rejecting unknown fields so a typo in a
// spec is reported rather than silently ignored.
func decodeLayout(raw json.RawMessage) (Layout, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var l Layout
	if err := dec.Decode(&l); err != nil {
		return l, err
	}
	return l, nil
}
