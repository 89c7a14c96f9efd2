package plan

import (
	"fmt"

	"github.com/crossin-lab/crossin/schema"
	"github.com/crossin-lab/crossin/template"
	"github.com/crossin-lab/crossin/trainer"
)

// benchContent is the key of a benchmark's questions.
func (b *builder) benchContent(bm *schema.Benchmark) (any, string, []string, error) {
	if bm.Hub != nil {
		commit, unres := b.revision("dataset", bm.Hub)
		return map[string]any{"hub": hubContent(bm.Hub, commit), "config": bm.Task}, commit, unres, nil
	}
	if b.content == nil {
		b.content = map[string]any{}
	}
	if c, ok := b.content["bench/"+bm.Name]; ok {
		return c, "", nil, nil
	}
	h, err := b.cfg.hashFile(bm.Path)
	if err != nil {
		return nil, "", nil, fmt.Errorf("benchmark %s: %w", bm.Name, err)
	}
	c := map[string]any{"file": h}
	b.content["bench/"+bm.Name] = c
	return c, "", nil, nil
}

// evalStage runs one benchmark on the cell's model, with the adapter of
// train when there is one. content, commit and unres are the benchmark's
// (benchContent).
func (b *builder) evalStage(env *cellEnv, ms, train *Stage, bench *schema.Benchmark, content any, commit string, unres []string) *Stage {
	c := env.cell
	ev := &Stage{
		Kind:        KindEval,
		Deps:        []string{ms.ID},
		Cells:       []string{env.name},
		Inputs:      []Input{{Name: "model", Stage: ms.ID}},
		Backend:     env.backend,
		ImageDigest: env.digest,
		Unresolved:  append(append([]string(nil), env.beUnres...), unres...),
		Eval: &EvalParams{Model: env.model, Mixture: c.Mixture, Seed: c.Seed, Tuned: train != nil,
			Benchmark: bench, Eval: bench.Eval, Commit: commit},
		static: []Component{
			{Name: "template", Value: value(template.Template(env.model.Template).Key())},
			{Name: "contract", Value: value(trainer.Contract)},
			{Name: "benchmark", Value: value(struct {
				Eval trainer.EvalParams `json:"eval"`
				Data any                `json:"data"`
			}{bench.Eval, content})},
			{Name: "backend", Value: env.beComp},
		},
	}
	if train != nil {
		ev.ID = fmt.Sprintf("eval/%s/%s/s%d/%s", c.Model, c.Mixture, c.Seed, bench.Name)
		ev.Deps = append(ev.Deps, train.ID)
		ev.Inputs = append(ev.Inputs, Input{Name: "adapter", Stage: train.ID})
	} else {
		// An untuned model does not depend on the seed: one eval
		// serves every seed of the grid.
		ev.ID = fmt.Sprintf("eval/%s/%s/%s", c.Model, c.Mixture, bench.Name)
	}
	return b.add(ev, env.exp.Name)
}
