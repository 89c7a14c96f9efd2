package cli

import (
	"context"

	"github.com/crossin-lab/crossin/engine/tensor"
	"github.com/crossin-lab/crossin/mixture"
	"github.com/crossin-lab/crossin/runner"
	"github.com/crossin-lab/crossin/runner/cache"
	"github.com/crossin-lab/crossin/runner/plan"
	"github.com/crossin-lab/crossin/trainer/embedded"
)

// cachePlanOptions makes the runner's cache answer the planner's Lookup,
// so `crossin plan` shows cached/stale stages, and every command that
// plans (plan, explain, run, report) uses the same keys, including the
// embedded engine's code version.
func cachePlanOptions(ctx context.Context, cacheDir string) ([]plan.Option, error) {
	c, err := cache.Open(cacheDir)
	if err != nil {
		return nil, err
	}
	return []plan.Option{
		plan.WithCache(c),
		// Outputs of the embedded engine change with its code
		// (TestEngineFingerprint guards the version) and with the
		// arithmetic of the machine that runs it.
		plan.WithCodeVersion(plan.KindTrain, embedded.CodeVersion),
		plan.WithCodeVersion(plan.KindEval, embedded.CodeVersion),
		// results.json's layout changed what report stages write.
		plan.WithCodeVersion(plan.KindReport, runner.ReportCodeVersion),
		plan.WithArithmetic(tensor.ArithmeticPath()),
		// Mixtures change with the data builder's code.
		plan.WithCodeVersion(plan.KindData, mixture.CodeVersion),
	}, nil
}
