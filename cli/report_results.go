package cli

import (
	"context"
	"errors"

	"github.com/crossin-lab/crossin/reports"
	"github.com/crossin-lab/crossin/resultset"
	"github.com/crossin-lab/crossin/runner"
	"github.com/crossin-lab/crossin/runner/cache"
	"github.com/crossin-lab/crossin/schema"
)

// reportResults loads the results of the experiments in paths from the
// cache without running anything (`crossin report PATH`), with the layouts
// the experiments declare ahead of the default ones. With smoke, they are
// the results of the spec's smoke run.
func reportResults(paths []string, experiment string, smoke bool) (*resultset.Set, []reports.Layout, error) {
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
	popts, err := planOptions(context.Background(), c.Dir(), spec)
	if err != nil {
		return nil, nil, err
	}
	set, p, err := runner.Results(spec, c, experiment, append(popts, smokeOpts...)...)
	var corrupt *runner.CorruptResultsError
	if err != nil && !errors.As(err, &corrupt) {
		return nil, nil, err
	}
	prov, pins, err := recordProvenance(spec)
	if err != nil {
		return nil, nil, err
	}
	runner.ApplyPins(set, pins)
	prov.Smoke = smoke
	set.Provenance = prov
	layouts := reports.DefaultLayouts()
	for _, ep := range p.Experiments {
		if rs := p.Stage(ep.Report); rs != nil && rs.Report != nil && rs.Report.Experiment != nil && len(rs.Report.Experiment.Report) > 0 {
			if ls, err := reports.ParseLayouts(rs.Report.Experiment.Report); err == nil {
				layouts = append(ls, layouts...)
			}
		}
	}
	if corrupt != nil {
		return set, layouts, corrupt
	}
	return set, layouts, nil
}
