package schema

import (
	"time"

	"cuelang.org/go/cue"
)

func (l *loader) backend(v cue.Value) *Backend {
	var b Backend
	if !l.decodeInto(v, &b) {
		return nil
	}
	b.Name, b.Pos = label(v), l.pos(v)
	if b.Kind == BackendContainer && b.Runtime == "" {
		b.Runtime = "podman"
	}
	if b.Kind == BackendK8s {
		l.k8sBackend(v, &b)
	} else {
		// settings of the kubernetes kind on another kind are a mistake
		// (a kind changed, a copied block), not something to ignore
		for _, f := range []string{"namespace", "context", "kubeconfig", "node_selector", "tolerations", "service_account", "priority_class", "cpu", "memory", "schedule_timeout", "pull_policy", "volume", "oci"} {
			if fv := v.LookupPath(cue.ParsePath(f)); fv.Exists() {
				l.is.add(l.pos(fv), pathOf(fv), "%s is a setting of kubernetes backends; this backend's kind is %q", f, b.Kind)
			}
		}
	}
	return &b
}

// k8sBackend checks and completes a kubernetes backend: the namespace
// defaults to "default", a kubeconfig path is relative to its file.
func (l *loader) k8sBackend(v cue.Value, b *Backend) {
	if b.Namespace == "" {
		b.Namespace = "default"
	}
	if b.Kubeconfig != "" {
		b.Kubeconfig = l.localPath(v.LookupPath(cue.ParsePath("kubeconfig")), b.Kubeconfig)
	}
	if b.ScheduleTimeout != "" {
		fv := v.LookupPath(cue.ParsePath("schedule_timeout"))
		if d, err := time.ParseDuration(b.ScheduleTimeout); err != nil || d <= 0 {
			l.is.add(l.pos(fv), pathOf(fv), "schedule_timeout %q: want a positive duration such as \"90s\" or \"10m\"", b.ScheduleTimeout)
		}
	}
	if b.Volume != nil && b.OCI != nil {
		fv := v.LookupPath(cue.ParsePath("oci"))
		l.is.add(l.pos(fv), pathOf(fv), "volume and oci are two ways for pods to reach the cache (a shared volume, or a registry); keep one")
	}
	for i, t := range b.Tolerations {
		if t.Operator == "Exists" && t.Value != "" {
			fv := v.LookupPath(cue.MakePath(cue.Str("tolerations"), cue.Index(i)))
			l.is.add(l.pos(fv), pathOf(fv), "a toleration with operator Exists takes no value (Kubernetes rejects it)")
		}
		if t.Key == "" && t.Operator != "Exists" {
			fv := v.LookupPath(cue.MakePath(cue.Str("tolerations"), cue.Index(i)))
			l.is.add(l.pos(fv), pathOf(fv), "a toleration without a key must have operator \"Exists\" (it then tolerates every taint)")
		}
	}
}
