package oci

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/schema"
)

func TestSpecRequirements(t *testing.T) {
	commit := strings.Repeat("a", 40)
	spec := &schema.Spec{
		Backends: []*schema.Backend{
			{Name: "emb", Kind: "embedded"},
			{Name: "pod", Kind: "container", Image: "ghcr.io/x/trainer:0.1"},
			{Name: "slm", Kind: "slurm", Image: "ghcr.io/x/trainer:0.1"},
			{Name: "pinned", Kind: "container", Image: "ghcr.io/x/trainer@sha256:" + strings.Repeat("0", 64)},
		},
		Models:     []*schema.Model{{Name: "g", Hub: &schema.Hub{Repo: "google/gemma-2b", Revision: "main"}}, {Name: "p", Hub: &schema.Hub{Repo: "o/p", Revision: commit}}},
		Data:       []*schema.DataSource{{Name: "d", Hub: &schema.Hub{Repo: "o/data", Revision: "v1"}}},
		Benchmarks: []*schema.Benchmark{{Name: "b", Hub: &schema.Hub{Repo: "o/data", Revision: "v1"}}},
	}
	req := SpecRequirements(spec)
	if strings.Join(req.Images, ",") != "ghcr.io/x/trainer:0.1" {
		t.Errorf("images = %v", req.Images)
	}
	want := []HubRef{{"model", "google/gemma-2b", "main"}, {"dataset", "o/data", "v1"}}
	if len(req.Hub) != len(want) || req.Hub[0] != want[0] || req.Hub[1] != want[1] {
		t.Errorf("hub = %v, want %v", req.Hub, want)
	}
}

func TestRevisionResolver(t *testing.T) {
	ctx := context.Background()
	l := NewLock()
	c1, c2 := strings.Repeat("1", 40), strings.Repeat("2", 40)
	calls := 0
	hub := func(ctx context.Context, kind, repo, rev string) (string, error) {
		calls++
		if repo == "o/missing" {
			return "", errors.New("revision not found")
		}
		if calls == 1 {
			return c1, nil
		}
		return c2, nil // the branch moved
	}
	r := RevisionResolver(l, false, hub)
	if c, err := r(ctx, "model", "o/m", "main"); err != nil || c != c1 {
		t.Fatalf("first resolve = %s, %v", c, err)
	}
	// pinned now: the moved branch is not seen until relock
	if c, err := r(ctx, "model", "o/m", "main"); err != nil || c != c1 || calls != 1 {
		t.Fatalf("second resolve = %s, %v (calls %d)", c, err, calls)
	}
	if _, err := r(ctx, "model", "o/missing", "main"); err == nil {
		t.Fatal("missing revision resolved")
	}
	locked := RevisionResolver(l, true, hub)
	if _, err := locked(ctx, "dataset", "o/d", "main"); err == nil || !strings.Contains(err.Error(), "--locked") {
		t.Fatalf("locked unpinned = %v", err)
	}
	ch, err := NewClient().Relock(ctx, l, Requirements{Hub: []HubRef{{"model", "o/m", "main"}}}, hubFunc(hub))
	if err != nil || len(ch) != 1 || ch[0].Old != c1 || ch[0].New != c2 {
		t.Fatalf("relock = %+v, %v", ch, err)
	}
	if c, _ := locked(ctx, "model", "o/m", "main"); c != c2 {
		t.Fatalf("after relock = %s", c)
	}
}

type hubFunc func(ctx context.Context, kind, repo, rev string) (string, error)

func (f hubFunc) Resolve(ctx context.Context, kind, repo, rev string) (string, error) {
	return f(ctx, kind, repo, rev)
}
