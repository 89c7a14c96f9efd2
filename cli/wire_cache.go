package cli

import (
	"context"

	"github.com/crossin-lab/crossin/runner/cache"
	"github.com/crossin-lab/crossin/runner/plan"
	"github.com/crossin-lab/crossin/trainer/embedded"
)

// The runner's cache answers the planner's Lookup, so `crossin plan` shows
// cached/stale stages, and every command that plans (plan, explain, run,
// report) uses the same keys, including the embedded engine's code version.
func init() {
	AddPlanHook(func(ctx context.Context, cacheDir string) ([]plan.Option, error) {
		c, err := cache.Open(cacheDir)
		if err != nil {
			return nil, err
		}
		return []plan.Option{
			plan.WithCache(c),
			// Outputs of the embedded engine change with its code.
			plan.WithCodeVersion(plan.KindTrain, embedded.CodeVersion),
			plan.WithCodeVersion(plan.KindEval, embedded.CodeVersion),
		}, nil
	})
}

// planHookOptions returns the options of every registered plan hook except
// the cache's (callers that pass their own cache add it themselves).
func planHookOptions(ctx context.Context, cacheDir string) ([]plan.Option, error) {
	var all []plan.Option
	for _, h := range planHooks {
		o, err := h(ctx, cacheDir)
		if err != nil {
			return nil, err
		}
		all = append(all, o...)
	}
	return all, nil
}
