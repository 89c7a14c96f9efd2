package kubernetes

import (
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/crossin-lab/crossin/schema"
)

// ConfigFromSpec maps a spec's kubernetes backend to a Config running the
// pinned image; cacheDir is where a volume claim is mounted by default.
func ConfigFromSpec(b *schema.Backend, pinned, cacheDir string) (Config, error) {
	c := Config{
		Namespace:      b.Namespace,
		Image:          pinned,
		CPU:            b.CPU,
		Memory:         b.Memory,
		NodeSelector:   b.NodeSelector,
		ServiceAccount: b.ServiceAccount,
		PriorityClass:  b.PriorityClass,
		PullPolicy:     corev1.PullPolicy(b.PullPolicy),
	}
	if b.GPUs != "" {
		n, err := strconv.Atoi(b.GPUs)
		if err != nil {
			return c, fmt.Errorf("%s: backend %s: gpus %q: want a count of GPUs per pod", b.Pos, b.Name, b.GPUs)
		}
		c.GPUs = n
	}
	if b.ScheduleTimeout != "" {
		d, err := time.ParseDuration(b.ScheduleTimeout)
		if err != nil {
			return c, fmt.Errorf("%s: backend %s: schedule_timeout: %v", b.Pos, b.Name, err)
		}
		c.ScheduleTimeout = d
	}
	for _, t := range b.Tolerations {
		c.Tolerations = append(c.Tolerations, corev1.Toleration{
			Key: t.Key, Operator: corev1.TolerationOperator(t.Operator), Value: t.Value,
			Effect: corev1.TaintEffect(t.Effect), TolerationSeconds: t.TolerationSeconds,
		})
	}
	if v := b.Volume; v != nil {
		c.Volume = Volume{Claim: v.Claim, MountPath: v.Path}
		if c.Volume.MountPath == "" {
			c.Volume.MountPath = cacheDir
		}
	}
	if o := b.OCI; o != nil {
		c.Remote = Remote{Repository: o.Repository, Secret: o.Secret}
	}
	return c, c.check()
}
