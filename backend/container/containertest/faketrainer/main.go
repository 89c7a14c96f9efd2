// Command faketrainer is a minimal, deterministic implementation of the
// trainer contract (v1) used to test the container and Slurm backends
// without the embedded engine: `faketrainer trainer run SPEC.json`.
//
// Its outputs are hashes of its inputs, so two backends given the same job
// must produce byte-identical files. It also records what it observed
// about its sandbox (read-only inputs, network interfaces, uid) in the
// manifest summary, so tests can check the backends' isolation. Seeds with
// special meaning: 13 exits with code 3; 99 sleeps for ten minutes (to be
// cancelled).
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/crossin-lab/crossin/trainer"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "version" {
		fmt.Println("faketrainer")
		return
	}
	if len(os.Args) != 4 || os.Args[1] != "trainer" || os.Args[2] != "run" {
		fmt.Fprintln(os.Stderr, "usage: faketrainer trainer run SPEC.json")
		os.Exit(2)
	}
	if err := run(os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, "faketrainer:", err)
		os.Exit(1)
	}
}

func run(specPath string) error {
	job, err := trainer.ReadJobSpec(specPath)
	if err != nil {
		return err
	}
	fmt.Printf("faketrainer: %s job, seed %d\n", job.Kind, job.Seed)
	switch job.Seed {
	case 13:
		fmt.Fprintln(os.Stderr, "faketrainer: failing on purpose (seed 13)")
		os.Exit(3)
	case 99:
		time.Sleep(10 * time.Minute)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s %d\n", job.Kind, job.Seed)
	for _, d := range job.Data {
		b, err := os.ReadFile(d)
		if err != nil {
			return err
		}
		h.Write(b)
	}
	if job.Adapter != "" {
		b, err := os.ReadFile(filepath.Join(job.Adapter, "adapter_model.safetensors"))
		if err != nil {
			return err
		}
		h.Write(b)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	files := map[string][]byte{}
	if job.Kind == trainer.KindTrain {
		files[trainer.AdapterDir+"/adapter_model.safetensors"] = []byte(sum)
		files[trainer.AdapterDir+"/adapter_config.json"] = []byte(`{"r":8}` + "\n")
		files[trainer.LossFile] = []byte(`{"steps":[{"step":1,"loss":1.5,"lr":0.001,"tokens":10}]}` + "\n")
	} else {
		files[trainer.OutputsFile] = []byte(`{"id":"q1","language":"English","output_ids":[` + strconv.Itoa(int(sum[0])) + `]}` + "\n")
	}
	for rel, b := range files {
		p := filepath.Join(job.OutputDir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	// sandbox observations
	ro := os.WriteFile(filepath.Join(job.Model.Dir, "probe"), []byte("x"), 0o644) != nil
	ifaces, _ := os.ReadDir("/sys/class/net")
	m := trainer.Manifest{
		Contract: trainer.Contract,
		Kind:     job.Kind,
		Trainer:  "faketrainer",
		Files:    map[string]string{},
		Summary:  map[string]any{"model_readonly": ro, "net_ifaces": len(ifaces), "uid": os.Getuid()},
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := sha256.Sum256(files[n])
		m.Files[n] = "sha256:" + hex.EncodeToString(s[:])
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(job.OutputDir, ".manifest.tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(job.OutputDir, trainer.ManifestFile))
}
