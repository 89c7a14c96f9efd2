package cli

import (
	"fmt"
	"io"

	"github.com/crossin-lab/crossin/mixture"
	"github.com/crossin-lab/crossin/runner/plan"
	"github.com/crossin-lab/crossin/schema"
	"github.com/crossin-lab/crossin/smoke"
)

// smokeUsage is the --smoke flag's help, the same on run, plan and report.
const smokeUsage = "smoke run: tiny random models of the same architectures with the real tokenizers, a few items per data part and benchmark, a few training steps, all on the embedded engine (results keyed and titled apart from real ones)"

// smokeOutDir is the default results directory of a smoke run, so that its
// results never overwrite a real run's.
const smokeOutDir = "results-smoke"

// smokeSpec returns the smoke version of spec and the plan option that
// keys it apart, or spec unchanged when on is false.
func smokeSpec(spec *schema.Spec, on bool) (*schema.Spec, []plan.Option, error) {
	if !on {
		return spec, nil, nil
	}
	o := smoke.Default()
	s, err := smoke.Spec(spec, o)
	if err != nil {
		return nil, nil, err
	}
	return s, []plan.Option{plan.WithSmoke(o.Key())}, nil
}

// printSmokeBanner says what a smoke plan or run is.
func printSmokeBanner(w io.Writer, p *plan.Plan) {
	if p == nil || p.Smoke == nil {
		return
	}
	o, err := smoke.FromKey(p.Smoke)
	if err != nil {
		return
	}
	fmt.Fprintf(w, "SMOKE RUN: tiny random models (%d layers, hidden %d) with the real tokenizers; at most %d records per data part, %d questions per benchmark, %d training steps, %d new tokens; embedded engine. Not results.\n",
		o.Layers, o.Hidden, smoke.Count(mixture.All, o), o.Questions, o.Steps, o.MaxNewTokens)
}
