package reports

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/crossin-lab/crossin/resultset"
)

// SetLayout returns the layout a result set records (the one of the
// table written beside its results.json), or the built-in main table for
// a set that records none.
func SetLayout(set *resultset.Set) (Layout, error) {
	if len(set.Layout) == 0 || string(set.Layout) == "null" {
		return DefaultLayouts()[0], nil
	}
	var l Layout
	if err := json.Unmarshal(set.Layout, &l); err != nil {
		return Layout{}, fmt.Errorf("the results' layout: %w", err)
	}
	return l, nil
}

// Footer is the provenance line every report format carries: the crossin
// build, the spec's commit (or its content hash when it is not in git) and
// the digest of the results, shortened to 12 hex digits each, which is
// enough to find the record and short enough for a table's margin.
func Footer(set *resultset.Set) string {
	parts := []string{}
	if p := set.Provenance; p != nil {
		b := "crossin " + p.Crossin.Version
		if p.Crossin.Revision != "" {
			b += " " + short(p.Crossin.Revision)
			if p.Crossin.Dirty {
				b += "+dirty"
			}
		}
		parts = append(parts, b)
		switch {
		case p.Spec.Commit != "":
			s := "spec " + short(p.Spec.Commit)
			if p.Spec.Dirty {
				s += "+dirty"
			}
			parts = append(parts, s)
		case p.Spec.Hash != "":
			parts = append(parts, "spec "+short(p.Spec.Hash)+" (not in git)")
		}
	}
	// The digest of the rows shown, computed, not the one the record
	// claims: a tampered record shows a digest that does not match.
	parts = append(parts, "results "+short(set.ComputeDigest()))
	return "provenance: " + strings.Join(parts, " · ")
}

// short abbreviates a hash ("sha256:" prefix kept) to 12 hex digits.
func short(h string) string {
	prefix := ""
	if i := strings.IndexByte(h, ':'); i >= 0 {
		prefix, h = h[:i+1], h[i+1:]
	}
	if len(h) > 12 {
		h = h[:12]
	}
	return prefix + h
}
