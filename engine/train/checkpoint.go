package train

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"

	"github.com/crossin-lab/crossin/atomicfile"
	"github.com/crossin-lab/crossin/engine/lora"
	"github.com/crossin-lab/crossin/engine/safetensors"
)

// A checkpoint is a directory checkpoints/step-NNNNNNNN holding
//
//	adapter_config.json, adapter_model.safetensors  the adapter (PEFT format)
//	optimizer.safetensors                           AdamW's exp_avg/exp_avg_sq per tensor
//	state.json                                      step, data position, RNG state, loss curve
//
// It is written into a temporary directory and renamed into place, so a
// step-N directory is always complete; a kill during the write leaves only
// a temporary directory, which the next save removes.

const ckptVersion = 1

type ckptState struct {
	Version     int    `json:"version"`
	Step        int    `json:"step"` // optimiser steps done
	Total       int    `json:"total"`
	Fingerprint string `json:"fingerprint"`
	// The RNG state: every random stream (data order per epoch, dropout per
	// micro-batch) is a PCG derived from the seed and a counter, so the
	// seed and the next micro-batch index restore all of them exactly.
	Seed           int64     `json:"seed"`
	NextMicroBatch int       `json:"next_micro_batch"`
	OptimizerStep  int       `json:"optimizer_step"`
	Tokens         int       `json:"tokens"`
	Curve          LossCurve `json:"curve"`
}

var ckptRE = regexp.MustCompile(`^step-(\d{8})$`)

func ckptName(step int) string { return fmt.Sprintf("step-%08d", step) }

func saveCheckpoint(dir string, st *ckptState, net *Net, opt *AdamW) error {
	st.Version = ckptVersion
	st.OptimizerStep = opt.Step
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(dir, ".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := net.Adapter.Save(tmp); err != nil {
		return err
	}
	var ts []safetensors.Tensor
	for i, name := range paramNames(net.Adapter) {
		n := len(opt.M[i])
		ts = append(ts, safetensors.F32Tensor("exp_avg."+name, []int{n}, opt.M[i]),
			safetensors.F32Tensor("exp_avg_sq."+name, []int{n}, opt.V[i]))
	}
	if err := safetensors.WriteFile(filepath.Join(tmp, "optimizer.safetensors"), ts, nil); err != nil {
		return err
	}
	sj, err := json.MarshalIndent(st, "", " ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFunc(filepath.Join(tmp, "state.json"), 0o644, func(w io.Writer) error {
		_, err := w.Write(sj)
		return err
	}); err != nil {
		return err
	}
	final := filepath.Join(dir, ckptName(st.Step))
	os.RemoveAll(final)
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	syncDir(dir)
	// Keep the two newest checkpoints; remove older ones and stale temporaries.
	steps, _ := listCheckpoints(dir)
	for _, s := range steps[:max(0, len(steps)-2)] {
		os.RemoveAll(filepath.Join(dir, ckptName(s)))
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() && len(e.Name()) > 5 && e.Name()[:5] == ".tmp-" {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
	return nil
}

func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
	}
}

func listCheckpoints(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var steps []int
	for _, e := range ents {
		if m := ckptRE.FindStringSubmatch(e.Name()); m != nil && e.IsDir() {
			n, _ := strconv.Atoi(m[1])
			steps = append(steps, n)
		}
	}
	slices.Sort(steps)
	return steps, nil
}

// loadLatest restores net and opt from the newest checkpoint in dir; it
// returns nil when there is none.
func loadLatest(dir, fingerprint string, net *Net, opt *AdamW) (*ckptState, error) {
	steps, err := listCheckpoints(dir)
	if err != nil || len(steps) == 0 {
		return nil, err
	}
	cdir := filepath.Join(dir, ckptName(steps[len(steps)-1]))
	data, err := os.ReadFile(filepath.Join(cdir, "state.json"))
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", cdir, err)
	}
	var st ckptState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("checkpoint %s/state.json: %w", cdir, err)
	}
	if st.Version != ckptVersion {
		return nil, fmt.Errorf("checkpoint %s: version %d, want %d", cdir, st.Version, ckptVersion)
	}
	if st.Fingerprint != fingerprint {
		return nil, fmt.Errorf("checkpoint %s was made with other data or settings (fingerprint %.12s, this run %.12s): remove %s to start over", cdir, st.Fingerprint, fingerprint, dir)
	}
	ad, err := lora.Load(cdir)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", cdir, err)
	}
	if len(ad.Pairs) != len(net.Adapter.Pairs) {
		return nil, fmt.Errorf("checkpoint %s: %d LoRA pairs, run has %d", cdir, len(ad.Pairs), len(net.Adapter.Pairs))
	}
	f, err := safetensors.Open(filepath.Join(cdir, "optimizer.safetensors"))
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", cdir, err)
	}
	defer f.Close()
	for i, p := range net.Adapter.Pairs {
		q := ad.Pairs[i]
		if q.Layer != p.Layer || q.Module != p.Module || len(q.A) != len(p.A) || len(q.B) != len(p.B) {
			return nil, fmt.Errorf("checkpoint %s: pair %d is layer %d %s, run has layer %d %s", cdir, i, q.Layer, q.Module, p.Layer, p.Module)
		}
		copy(p.A, q.A)
		copy(p.B, q.B)
	}
	if len(ad.Saved) != len(net.Adapter.Saved) {
		return nil, fmt.Errorf("checkpoint %s: %d modules_to_save, run has %d", cdir, len(ad.Saved), len(net.Adapter.Saved))
	}
	for i, s := range net.Adapter.Saved {
		if q := ad.Saved[i]; q.Module != s.Module || len(q.W) != len(s.W) {
			return nil, fmt.Errorf("checkpoint %s: saved module %s does not fit the run's %s", cdir, q.Module, s.Module)
		}
		copy(s.W, ad.Saved[i].W)
	}
	for i, name := range paramNames(net.Adapter) {
		for _, mv := range []struct {
			prefix string
			dst    []float32
		}{{"exp_avg.", opt.M[i]}, {"exp_avg_sq.", opt.V[i]}} {
			v, _, err := f.Float32(mv.prefix + name)
			if err != nil {
				return nil, fmt.Errorf("checkpoint %s: %w", cdir, err)
			}
			if len(v) != len(mv.dst) {
				return nil, fmt.Errorf("checkpoint %s: %s%s has %d values, want %d", cdir, mv.prefix, name, len(v), len(mv.dst))
			}
			copy(mv.dst, v)
		}
	}
	opt.Step = st.OptimizerStep
	return &st, nil
}

// WriteLossCurve writes loss.json atomically.
func WriteLossCurve(path string, c LossCurve) error {
	if c.Steps == nil {
		c.Steps = []LossPoint{}
	}
	data, err := json.MarshalIndent(c, "", " ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFunc(path, 0o644, func(w io.Writer) error {
		_, err := w.Write(append(data, '\n'))
		return err
	})
}

// paramNames names the trainable tensors in Net.Params order.
func paramNames(a *lora.Adapter) []string {
	var names []string
	for _, p := range a.Pairs {
		names = append(names, lora.TensorName(p.Layer, p.Module, "A"), lora.TensorName(p.Layer, p.Module, "B"))
	}
	for _, f := range a.Saved {
		names = append(names, lora.FullName(f.Module))
	}
	return names
}
