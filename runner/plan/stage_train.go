package plan

import (
	"fmt"

	"github.com/crossin-lab/crossin/template"
	"github.com/crossin-lab/crossin/trainer"
)

// trainStage fine-tunes the cell's model on the data of ds.
func (b *builder) trainStage(env *cellEnv, ms, ds *Stage) *Stage {
	c := env.cell
	return b.add(&Stage{
		ID:    fmt.Sprintf("train/%s/%s/s%d", c.Model, c.Mixture, c.Seed),
		Kind:  KindTrain,
		Deps:  []string{ms.ID, ds.ID},
		Cells: []string{env.name},
		Inputs: []Input{
			{Name: "model", Stage: ms.ID},
			{Name: "data", Stage: ds.ID},
		},
		Backend:     env.backend,
		ImageDigest: env.digest,
		Unresolved:  env.beUnres,
		Train:       &TrainParams{Experiment: env.exp.Name, Cell: c.ID, Model: env.model, Mixture: env.mix, Seed: c.Seed, Train: c.Train},
		static: []Component{
			{Name: "template", Value: value(template.Template(env.model.Template).Key())},
			// The contract version: how the trainer sees its inputs (v2: tokens).
			{Name: "contract", Value: value(trainer.Contract)},
			{Name: "train", Value: value(trainKey(c.Train))},
			{Name: "seed", Value: value(c.Seed)},
			{Name: "backend", Value: env.beComp},
		},
	}, env.exp.Name)
}

// trainKey is the part of the training parameters that determines the
// adapter: how often a trainer checkpoints only affects resuming.
func trainKey(t trainer.TrainParams) trainer.TrainParams {
	t.CheckpointEvery = 0
	return t
}
