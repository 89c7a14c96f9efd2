package model

import "testing"

type fakeAdapter struct{ name string }

func (a *fakeAdapter) AddDelta(layer int, p Proj, x []float32, n int, y []float32) {}

// TestWithAdapter checks that an adapter given at load time is installed,
// and that none is without it.
func TestWithAdapter(t *testing.T) {
	dir := t.TempDir()
	if err := Init(dir, InitConfig{Layers: 1, Hidden: 16, Heads: 2, Intermediate: 32, Vocab: 32, Seed: 1, MaxPositions: 64}); err != nil {
		t.Fatal(err)
	}
	a := &fakeAdapter{"a"}
	m, err := Load(dir, WithAdapter(a))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.adapter != a {
		t.Fatal("WithAdapter: the model's adapter is not the one given")
	}
	plain, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if plain.adapter != nil {
		t.Error("Load without WithAdapter installed an adapter")
	}
}
