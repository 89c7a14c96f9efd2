package cli

import (
	"context"

	"github.com/crossin-lab/crossin/reports"
	"github.com/crossin-lab/crossin/resultset"
	"github.com/crossin-lab/crossin/runner"
	"github.com/crossin-lab/crossin/runner/cache"
	"github.com/crossin-lab/crossin/schema"
)

// `crossin report PATH` reads an experiment's results from the cache
// without running anything.
func init() {
	reportResults = func(paths []string, experiment string, smoke bool) (*resultset.Set, []reports.Layout, error) {
		spec, err := schema.Load(specPaths(paths)...)
		if err != nil {
			return nil, nil, err
		}
		spec, smokeOpts, err := smokeSpec(spec, smoke)
		if err != nil {
			return nil, nil, err
		}
		c, err := cache.OpenDefault()
		if err != nil {
			return nil, nil, err
		}
		popts, err := planHookOptions(context.Background(), c.Dir())
		if err != nil {
			return nil, nil, err
		}
		set, p, err := runner.Results(spec, c, experiment, append(popts, smokeOpts...)...)
		if err != nil {
			return nil, nil, err
		}
		layouts := reports.DefaultLayouts()
		for _, ep := range p.Experiments {
			if rs := p.Stage(ep.Report); rs != nil && rs.Report != nil && rs.Report.Experiment != nil && len(rs.Report.Experiment.Report) > 0 {
				if ls, err := reports.ParseLayouts(rs.Report.Experiment.Report); err == nil {
					layouts = append(ls, layouts...)
				}
			}
		}
		return set, layouts, nil
	}
}
