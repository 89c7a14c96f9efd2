package bench

import (
	"context"
	"fmt"

	"github.com/crossin-lab/crossin/hub"
)

// SeaEvalRepo is the Hugging Face dataset repository that publishes
// SeaEval's benchmarks, one JSON array per benchmark at the repository root
// (cross_mmlu.json, cross_logiqa.json).
const SeaEvalRepo = "SeaEval/SeaEval_datasets"

// LoadHub downloads benchmark name (cross_mmlu or cross_logiqa) from
// SeaEval's dataset repository at revision ("" means main) through the hub
// client's content-addressed cache and loads it. It returns the benchmark
// and the commit it was read at, which callers record so that a run can be
// repeated offline. Cross-XQuAD is built locally (BuildXQuAD), because
// SeaEval's version of it is not public in the same form.
func LoadHub(ctx context.Context, c *hub.Client, name, revision string) (*Benchmark, string, error) {
	switch name {
	case "cross_mmlu", "cross_logiqa":
	default:
		return nil, "", fmt.Errorf("benchmark %q is not published in %s; use cross_mmlu or cross_logiqa (build cross_xquad with crossin bench build-xquad)", name, SeaEvalRepo)
	}
	commit, err := c.Resolve(ctx, hub.Dataset, SeaEvalRepo, revision)
	if err != nil {
		return nil, "", fmt.Errorf("load %s from the hub: %w", name, err)
	}
	path, err := c.Download(ctx, hub.Dataset, SeaEvalRepo, commit, name+".json")
	if err != nil {
		return nil, "", fmt.Errorf("load %s from the hub: %w", name, err)
	}
	b, err := Load(path)
	if err != nil {
		return nil, "", err
	}
	b.Name = name
	b.Path = "hf://datasets/" + SeaEvalRepo + "@" + commit + "/" + name + ".json"
	return b, commit, nil
}
