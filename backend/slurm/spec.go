package slurm

import (
	"github.com/crossin-lab/crossin/schema"
)

// ResourcesFromSpec maps a spec backend's Slurm settings to Resources.
// A GPU count in gpus ("2") becomes --gres=gpu:2 when gres is not given.
func ResourcesFromSpec(b *schema.Backend) Resources {
	r := Resources{Partition: b.Partition, Gres: b.Gres, Time: b.Time, Mem: b.Mem, CPUs: b.CPUsPerTask, Account: b.Account}
	if r.Gres == "" && b.GPUs != "" && b.GPUs != "0" && b.GPUs != "all" {
		r.Gres = "gpu:" + b.GPUs
	}
	return r
}
