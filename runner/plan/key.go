package plan

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// KeyVersion versions the layout of key descriptions. Bump it when the
// components of any stage kind change meaning, so old cache entries are
// never matched by new keys.
const KeyVersion = "crossin.key/v2"

// Component is one named part of a stage's key.
type Component struct {
	Name  string          `json:"name"`
	Value json.RawMessage `json:"value"`
}

// Description is the canonical, versioned description of everything that
// determines a stage's output. Its SHA-256 is the stage's ActionID.
// Components keep a fixed order per stage kind so that descriptions can be
// compared component by component (Diff).
type Description struct {
	Version    string      `json:"version"`
	Kind       Kind        `json:"kind"`
	Components []Component `json:"components"`
}

// Canonical returns the description as canonical JSON: no insignificant
// whitespace, object keys sorted, no HTML escaping, numbers as written by
// encoding/json (shortest round-trip form).
func (d Description) Canonical() []byte {
	b, err := marshal(d)
	if err != nil {
		// Components hold only values produced by marshal, so this cannot
		// fail; a failure is a programming error worth surfacing loudly.
		panic(fmt.Sprintf("plan: canonical description: %v", err))
	}
	return b
}

// ActionID is the hex SHA-256 of the canonical description.
func (d Description) ActionID() string {
	sum := sha256.Sum256(d.Canonical())
	return hex.EncodeToString(sum[:])
}

// Get returns the value of the named component.
func (d Description) Get(name string) (json.RawMessage, bool) {
	for _, c := range d.Components {
		if c.Name == name {
			return c.Value, true
		}
	}
	return nil, false
}

// marshal encodes v canonically: the value is encoded, decoded into
// generic JSON and encoded again, so that every object's keys are sorted
// at every depth, including struct fields and raw JSON taken from a spec
// (a report layout keeps CUE's field order), and every number has one
// spelling (integers exactly, other numbers as encoding/json writes a
// float64: 1e-4 and 0.0001 are the same key).
func marshal(v any) ([]byte, error) {
	b, err := encode(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var g any
	if err := dec.Decode(&g); err != nil {
		return nil, err
	}
	g, err = canonicalNumbers(g)
	if err != nil {
		return nil, err
	}
	return encode(g)
}

func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// canonicalNumbers replaces every json.Number in a decoded value by its
// canonical form: an integer literal stays exact (seeds are int64), any
// other number becomes the float64 it denotes.
func canonicalNumbers(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i, nil
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return nil, err
		}
		if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return int64(f), nil
		}
		return f, nil
	case map[string]any:
		for k, e := range x {
			c, err := canonicalNumbers(e)
			if err != nil {
				return nil, err
			}
			x[k] = c
		}
	case []any:
		for i, e := range x {
			c, err := canonicalNumbers(e)
			if err != nil {
				return nil, err
			}
			x[i] = c
		}
	}
	return v, nil
}

// value makes a component value from any JSON-encodable Go value.
func value(v any) json.RawMessage {
	b, err := marshal(v)
	if err != nil {
		panic(fmt.Sprintf("plan: encoding key component: %v", err))
	}
	return b
}

// Change is one difference between two descriptions.
type Change struct {
	Component string `json:"component"`      // e.g. "train"
	Path      string `json:"path,omitempty"` // inside the component, e.g. "learning_rate", "lora.r"
	Old       string `json:"old,omitempty"`  // JSON text; "" when added
	New       string `json:"new,omitempty"`  // JSON text; "" when removed
}

// Field is the full dotted name of the changed value.
func (c Change) Field() string {
	if c.Path == "" {
		return c.Component
	}
	return c.Component + "." + c.Path
}

func (c Change) String() string {
	switch {
	case c.Old == "":
		return fmt.Sprintf("%s: added %s", c.Field(), c.New)
	case c.New == "":
		return fmt.Sprintf("%s: removed (was %s)", c.Field(), c.Old)
	}
	return fmt.Sprintf("%s: %s -> %s", c.Field(), c.Old, c.New)
}

// Diff names the components (and the fields inside them) that differ
// between old and new, in new's component order followed by components
// only old had.
func Diff(old, new Description) []Change {
	var out []Change
	if old.Version != new.Version {
		out = append(out, Change{Component: "version", Old: quote(old.Version), New: quote(new.Version)})
	}
	if old.Kind != new.Kind {
		out = append(out, Change{Component: "kind", Old: quote(string(old.Kind)), New: quote(string(new.Kind))})
	}
	seen := map[string]bool{}
	for _, c := range new.Components {
		seen[c.Name] = true
		o, ok := old.Get(c.Name)
		if !ok {
			out = append(out, Change{Component: c.Name, New: string(c.Value)})
			continue
		}
		out = append(out, diffJSON(c.Name, "", o, c.Value)...)
	}
	for _, c := range old.Components {
		if !seen[c.Name] {
			out = append(out, Change{Component: c.Name, Old: string(c.Value)})
		}
	}
	return out
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

// diffJSON compares two JSON values, descending into objects so that a
// change is named by its field path.
func diffJSON(comp, path string, a, b json.RawMessage) []Change {
	if bytes.Equal(a, b) {
		return nil
	}
	var ao, bo map[string]json.RawMessage
	if json.Unmarshal(a, &ao) == nil && json.Unmarshal(b, &bo) == nil && ao != nil && bo != nil {
		keys := map[string]bool{}
		for k := range ao {
			keys[k] = true
		}
		for k := range bo {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		var out []Change
		for _, k := range sorted {
			p := k
			if path != "" {
				p = path + "." + k
			}
			av, aok := ao[k]
			bv, bok := bo[k]
			switch {
			case !aok:
				out = append(out, Change{Component: comp, Path: p, New: string(bv)})
			case !bok:
				out = append(out, Change{Component: comp, Path: p, Old: string(av)})
			default:
				out = append(out, diffJSON(comp, p, av, bv)...)
			}
		}
		return out
	}
	// Re-encode to compare semantically (e.g. 1e-4 vs 0.0001).
	var av, bv any
	if json.Unmarshal(a, &av) == nil && json.Unmarshal(b, &bv) == nil {
		ca, _ := marshal(av)
		cb, _ := marshal(bv)
		if bytes.Equal(ca, cb) {
			return nil
		}
	}
	return []Change{{Component: comp, Path: path, Old: string(a), New: string(b)}}
}

// InputPrefix starts the names of components that hold an upstream
// stage's output (or, while it is not built yet, its pending ActionID).
const InputPrefix = "input:"

// InputValue is the value of an input component.
type InputValue struct {
	Output  string `json:"output,omitempty"`  // upstream OutputID, once known
	Pending string `json:"pending,omitempty"` // upstream ActionID while its output is unknown
}

// IsInput reports whether a component name refers to an upstream stage.
func IsInput(name string) bool { return strings.HasPrefix(name, InputPrefix) }
