package slurm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

func newJSONEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc
}

// Result is the final state of one node's job.
type Result struct {
	Node     string
	JobID    string
	State    string // COMPLETED, FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, ...
	ExitCode int    // the job script's exit code
	Signal   int
	Reason   string // Slurm's reason (e.g. DependencyNeverSatisfied)
	Log      string // host path of the job log
}

// Err describes a job that did not complete, with the tail of its log.
func (r Result) Err() error {
	if r.State == "COMPLETED" {
		return nil
	}
	msg := fmt.Sprintf("slurm job %s (%s): %s, exit code %d", r.JobID, r.Node, r.State, r.ExitCode)
	if r.Signal != 0 {
		msg += fmt.Sprintf(", signal %d", r.Signal)
	}
	if r.Reason != "" && r.Reason != "None" {
		msg += ", reason " + r.Reason
	}
	if t := logTail(r.Log, 2000); t != "" {
		msg += "\n" + t
	}
	return fmt.Errorf("%s", msg)
}

func logTail(p string, n int64) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		f.Seek(st.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return strings.TrimSpace(string(b))
}

// terminal reports whether a Slurm job state is final.
func terminal(state string) bool {
	switch state {
	case "PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD", "":
		return false
	}
	return true
}

// jobInfo is one line of `scontrol show job -o`.
type jobInfo struct {
	JobID, ArrayJobID, ArrayTaskID string
	State, Reason                  string
	Exit, Signal                   int
}

// parseShowJob parses `scontrol show job -o` output: one job (or one
// still-pending array range) per line, space-separated Key=Value pairs.
func parseShowJob(out string) []jobInfo {
	var jobs []jobInfo
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, "JobId=") {
			continue
		}
		var j jobInfo
		for _, f := range strings.Fields(line) {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				continue
			}
			switch k {
			case "JobId":
				j.JobID = v
			case "ArrayJobId":
				j.ArrayJobID = v
			case "ArrayTaskId":
				j.ArrayTaskID = v
			case "JobState":
				j.State = v
			case "Reason":
				j.Reason = v
			case "ExitCode":
				a, s, _ := strings.Cut(v, ":")
				j.Exit, _ = strconv.Atoi(a)
				j.Signal, _ = strconv.Atoi(s)
			}
		}
		jobs = append(jobs, j)
	}
	return jobs
}

// match reports whether info describes the job id ("123" or "123_4"),
// including an array range like "0-3" or "1,3-5%2" that still holds task 4.
func (j jobInfo) match(id string) bool {
	aj, task, isTask := strings.Cut(id, "_")
	if !isTask {
		return j.JobID == id && j.ArrayJobID == ""
	}
	if j.ArrayJobID != aj {
		return false
	}
	t, err := strconv.Atoi(task)
	if err != nil {
		return false
	}
	spec := j.ArrayTaskID
	if i := strings.IndexByte(spec, '%'); i >= 0 {
		spec = spec[:i]
	}
	for _, part := range strings.Split(spec, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		if !isRange {
			if err1 == nil && a == t {
				return true
			}
			continue
		}
		hi, _, _ = strings.Cut(hi, ":") // step
		b, err2 := strconv.Atoi(hi)
		if err1 == nil && err2 == nil && a <= t && t <= b {
			return true
		}
	}
	return false
}

// status queries every job of the submission once.
func (b *Backend) status(ctx context.Context, s *Submission) (map[string]jobInfo, error) {
	seen := map[string]bool{}
	var ids []string
	for _, n := range s.order {
		id := s.JobIDs[n]
		base, _, _ := strings.Cut(id, "_")
		if !seen[base] {
			seen[base] = true
			ids = append(ids, base)
		}
	}
	// scontrol show job takes one id; an array id reports all its tasks.
	var infos []jobInfo
	for _, id := range ids {
		out, err := b.command(ctx, b.cfg.Scontrol, "show", "job", "-o", id)
		if err != nil {
			if strings.Contains(err.Error(), "Invalid job id") {
				continue // aged out of slurmctld (MinJobAge): reported as unknown below
			}
			return nil, err
		}
		infos = append(infos, parseShowJob(out)...)
	}
	res := map[string]jobInfo{}
	for _, n := range s.order {
		id := s.JobIDs[n]
		for _, j := range infos {
			if j.match(id) {
				res[n] = j
				break
			}
		}
	}
	return res, nil
}

// Wait polls until every job of s has finished and returns their results.
// If ctx ends first, it cancels the submission (removing containers) and
// returns ctx's error.
func (b *Backend) Wait(ctx context.Context, s *Submission) (map[string]Result, error) {
	t := time.NewTicker(b.cfg.Poll)
	defer t.Stop()
	start := time.Now()
	var failingSince time.Time
	for {
		st, err := b.status(ctx, s)
		switch {
		case err != nil && ctx.Err() == nil:
			// ride out a busy or restarting controller for a while
			if failingSince.IsZero() {
				failingSince = time.Now()
			} else if time.Since(failingSince) > time.Minute {
				return nil, fmt.Errorf("slurm: following jobs: %w", err)
			}
		case err == nil:
			failingSince = time.Time{}
			if res, done := results(s, st); done {
				return res, nil
			}
			if lost := lostJobs(s, st); len(lost) > 0 && time.Since(start) > time.Minute {
				return nil, fmt.Errorf("slurm: jobs %s are unknown to slurmctld (finished more than MinJobAge ago, or purged); their outcome cannot be read without accounting", strings.Join(lost, ", "))
			}
		}
		select {
		case <-ctx.Done():
			b.Cancel(context.WithoutCancel(ctx), s)
			return nil, fmt.Errorf("slurm: %w (jobs cancelled)", ctx.Err())
		case <-t.C:
		}
	}
}

func results(s *Submission, st map[string]jobInfo) (map[string]Result, bool) {
	res := map[string]Result{}
	for _, n := range s.order {
		j, ok := st[n]
		if !ok || !terminal(j.State) {
			return nil, false
		}
		res[n] = Result{Node: n, JobID: s.JobIDs[n], State: j.State, ExitCode: j.Exit, Signal: j.Signal, Reason: j.Reason, Log: s.logs[n]}
	}
	return res, true
}

// Cancel scancels every job of s, waits (up to a minute) until Slurm
// reports them finished, and force-removes their containers if this host
// runs them: the batch script's trap removes a container on the node, and
// this catches a container whose script was killed before its trap ran.
func (b *Backend) Cancel(ctx context.Context, s *Submission) error {
	var ids []string
	for _, n := range s.order {
		ids = append(ids, s.JobIDs[n])
	}
	if len(ids) == 0 {
		return nil
	}
	_, err := b.command(ctx, b.cfg.Scancel, ids...)
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		st, serr := b.status(ctx, s)
		if serr == nil {
			if _, done := results(s, st); done {
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if c := b.cfg.Container; c != nil {
		for _, n := range s.order {
			c.Engine().Remove(ctx, s.cont[n])
		}
	}
	return err
}

// lostJobs lists the jobs scontrol no longer knows.
func lostJobs(s *Submission, st map[string]jobInfo) []string {
	var lost []string
	for _, n := range s.order {
		if _, ok := st[n]; !ok {
			lost = append(lost, s.JobIDs[n])
		}
	}
	return lost
}
