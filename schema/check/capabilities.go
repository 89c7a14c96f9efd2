package check

import (
	"fmt"

	"github.com/crossin-lab/crossin/schema"
	"github.com/crossin-lab/crossin/template"
)

// EmbeddedCannotTrain lists the model families the embedded trainer cannot
// fine-tune yet, with the missing piece (none today: Llama, Mistral,
// Qwen2 and Gemma all train). trainer/embedded's
// TestCapabilitiesTable builds a small model of every family and fails when
// this table and the trainer disagree, so it cannot go stale.
var EmbeddedCannotTrain = map[string]string{}

// capabilities checks every cell that trains against what its
// experiment's trainer can do: the prompt template (every trainer gets its
// tokens from package template), and for the embedded trainer the model
// family. Container and Slurm backends run a
// trainer image whose abilities are checked when the job starts.
func (c *checker) capabilities() {
	s := c.spec
	for _, m := range s.Models {
		if err := template.Template(m.Template).Validate(); err != nil {
			c.errorf(m.Pos, "models."+m.Name+".template", "%v", err)
		}
	}
	type seenKey struct{ exp, what string }
	seen := map[seenKey]bool{}
	for _, e := range s.Experiments {
		kind := schema.BackendEmbedded
		if b := s.Backend(e.Backend); b != nil {
			kind = b.Kind
		}
		if kind != schema.BackendEmbedded {
			continue
		}
		for _, cell := range e.Cells {
			mix, m := s.Mixture(cell.Mixture), s.Model(cell.Model)
			if mix == nil || m == nil || mix.Empty() {
				continue // nothing to train (unknown names are the schema's errors)
			}
			if why, ok := EmbeddedCannotTrain[m.Family]; ok && !seen[seenKey{e.Name, "model " + m.Name}] {
				seen[seenKey{e.Name, "model " + m.Name}] = true
				c.errorf(m.Pos, "models."+m.Name+".family",
					"experiment %s trains %s on the embedded trainer, which cannot train %s models: %s; run the experiment on a container or slurm backend (backend: \"NAME\" with backends: NAME: {kind: \"container\", image: ...}), or use a llama or qwen2 model",
					e.Name, m.Name, m.Family, why)
			}
		}
	}
}

// plural renders n and a noun, "1 item" or "2 items".
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
