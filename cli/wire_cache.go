package cli

import (
	"context"

	"github.com/crossin-lab/crossin/runner/cache"
	"github.com/crossin-lab/crossin/runner/plan"
)

// The runner's cache answers the planner's Lookup, so `crossin plan` shows
// cached/stale stages and `crossin explain` and `crossin run` see the same
// keys.
func init() {
	AddPlanHook(func(ctx context.Context, cacheDir string) ([]plan.Option, error) {
		c, err := cache.Open(cacheDir)
		if err != nil {
			return nil, err
		}
		return []plan.Option{plan.WithCache(c)}, nil
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
