package kubernetes

import (
	"strings"
	"testing"
	"time"

	"github.com/crossin-lab/crossin/schema"
)

func TestConfigFromSpec(t *testing.T) {
	const img = "reg/img@sha256:0000000000000000000000000000000000000000000000000000000000000000"
	secs := int64(30)
	for _, tc := range []struct {
		name    string
		b       schema.Backend
		check   func(t *testing.T, c Config)
		wantErr string
	}{
		{"defaults", schema.Backend{Name: "k"}, func(t *testing.T, c Config) {
			if c.Namespace != "default" || c.Image != img || c.ScheduleTimeout != 10*time.Minute || c.Volume.Claim != "" || c.Remote.Repository != "" {
				t.Errorf("%+v", c)
			}
		}, ""},
		{"claim", schema.Backend{Name: "k", Volume: &schema.K8sVolume{Claim: "cache"}}, func(t *testing.T, c Config) {
			if c.Volume.Claim != "cache" || c.Volume.MountPath != "/cache" {
				t.Errorf("volume %+v, want the claim mounted at the cache directory", c.Volume)
			}
		}, ""},
		{"oci", schema.Backend{Name: "k", OCI: &schema.K8sOCI{Repository: "reg.example.org/lab/jobs", Secret: "regcred"}}, func(t *testing.T, c Config) {
			if c.Remote != (Remote{Repository: "reg.example.org/lab/jobs", Secret: "regcred"}) {
				t.Errorf("remote %+v", c.Remote)
			}
		}, ""},
		{"gpus and scheduling", schema.Backend{Name: "k", Namespace: "ml", GPUs: "2", ScheduleTimeout: "90s",
			Tolerations: []schema.Toleration{{Key: "nvidia.com/gpu", Operator: "Exists", Effect: "NoSchedule", TolerationSeconds: &secs}}}, func(t *testing.T, c Config) {
			if c.Namespace != "ml" || c.GPUs != 2 || c.ScheduleTimeout != 90*time.Second || len(c.Tolerations) != 1 || *c.Tolerations[0].TolerationSeconds != 30 || c.Tolerations[0].Operator != "Exists" {
				t.Errorf("%+v", c)
			}
		}, ""},
		{"bad gpus", schema.Backend{Name: "k", GPUs: "all"}, nil, `gpus "all"`},
		{"bad timeout", schema.Backend{Name: "k", ScheduleTimeout: "soon"}, nil, "schedule_timeout"},
		{"claim and oci", schema.Backend{Name: "k", Volume: &schema.K8sVolume{Claim: "c"}, OCI: &schema.K8sOCI{Repository: "r/j"}}, nil, "choose one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ConfigFromSpec(&tc.b, img, "/cache")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}
