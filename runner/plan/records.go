package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"github.com/crossin-lab/crossin/atomicfile"
)

// Records keeps each stage's last key description, so that explain can
// say what changed since. The executor saves a stage's record when it
// runs (or finds it cached); `crossin plan --record` saves the planned
// keys.
type Records struct {
	Dir string
}

// OpenRecords returns the record store under cacheDir.
func OpenRecords(cacheDir string) *Records {
	return &Records{Dir: filepath.Join(cacheDir, "records")}
}

// RecordsOf returns the record store of p's runs: a smoke plan's records
// are kept apart (records-smoke), so that a smoke run is never the
// baseline explain compares a real plan with, nor the other way round.
func RecordsOf(cacheDir string, p *Plan) *Records {
	if p != nil && p.Smoke != nil {
		return &Records{Dir: filepath.Join(cacheDir, "records-smoke")}
	}
	return OpenRecords(cacheDir)
}

// Record is one saved description.
type Record struct {
	Stage    string      `json:"stage"`
	ActionID string      `json:"action_id"`
	Key      Description `json:"key"`
}

func (r *Records) file(stageID string) string {
	return filepath.Join(r.Dir, url.PathEscape(stageID)+".json")
}

// Save records d as stageID's latest description, atomically. A record
// that is already there is not rewritten, so a run that finds everything
// cached writes nothing to the cache (and works on a read-only one).
func (r *Records) Save(stageID string, d Description) error {
	b, err := json.MarshalIndent(Record{Stage: stageID, ActionID: d.ActionID(), Key: d}, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if old, err := os.ReadFile(r.file(stageID)); err == nil && bytes.Equal(old, b) {
		return nil
	}
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		return err
	}
	return atomicfile.WriteAll(r.file(stageID), b, 0o666)
}

// Load returns the recorded description of stageID; ok is false when the
// stage has no record.
func (r *Records) Load(stageID string) (d Description, ok bool, err error) {
	b, err := os.ReadFile(r.file(stageID))
	if errors.Is(err, fs.ErrNotExist) {
		return d, false, nil
	}
	if err != nil {
		return d, false, err
	}
	var rec Record
	if err := json.Unmarshal(b, &rec); err != nil {
		return d, false, fmt.Errorf("record %s: %w", r.file(stageID), err)
	}
	return rec.Key, true, nil
}

// SavePlan records every stage of p.
func (r *Records) SavePlan(p *Plan) error {
	for _, s := range p.Stages {
		if err := r.Save(s.ID, s.Key); err != nil {
			return err
		}
	}
	return nil
}
