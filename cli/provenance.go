package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/crossin-lab/crossin/oci"
	"github.com/crossin-lab/crossin/provenance"
	"github.com/crossin-lab/crossin/resultset"
	"github.com/crossin-lab/crossin/runner"
	"github.com/crossin-lab/crossin/runner/plan"
	"github.com/crossin-lab/crossin/schema"
)

// recordProvenance returns what a run records about itself (build, spec
// files and commit) and the references crossin.lock pins.
func recordProvenance(spec *schema.Spec) (*resultset.Provenance, runner.Pins, error) {
	prov, err := provenance.Describe(spec, Version)
	if err != nil {
		return nil, nil, err
	}
	pins, err := lockPins(spec)
	return prov, pins, err
}

// lockPins vouches for the references spec's crossin.lock pins (none without a
// lock file).
func lockPins(spec *schema.Spec) (runner.Pins, error) {
	l, err := oci.ReadLock(oci.LockPath(spec))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return provenance.LockPins(l), nil
}

// readRecord reads a results.json for verify and reproduce.
// recordSpec reads a results record and the spec that produced it (at the
// recorded commit when the files changed since), turned into its smoke run
// when the record is a smoke record or smoke asks for one; src.Cleanup
// removes a spec checked out for it. verify and reproduce start the same
// way.
func recordSpec(path string, smoke bool) (rec *resultset.Set, spec *schema.Spec, src *provenance.SpecSource, smokeOpts []plan.Option, err error) {
	if rec, err = readRecord(path); err != nil {
		return nil, nil, nil, nil, err
	}
	if spec, src, err = provenance.LoadSpec(rec); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if spec, smokeOpts, err = smokeSpec(spec, smoke || rec.Provenance.Smoke); err != nil {
		src.Cleanup()
		return nil, nil, nil, nil, err
	}
	return rec, spec, src, smokeOpts, nil
}

func readRecord(path string) (*resultset.Set, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	set, err := resultset.Decode(b)
	if err != nil {
		return nil, &fileError{path: path, err: err}
	}
	if set.Experiment == "" {
		return nil, &fileError{path: path, err: errors.New("not a crossin results file (no experiment)")}
	}
	return set, nil
}

type fileError struct {
	path string
	err  error
}

func (e *fileError) Error() string { return e.path + ": " + e.err.Error() }
func (e *fileError) Unwrap() error { return e.err }
