package mixture

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/crossin-lab/crossin/dataset"
)

// TestLoaderKeys checks which reads the loader shares: one parse per file,
// language and alignment mode whatever the score filter, and an x-llm
// directory never shares a read with a file of the same name.
func TestLoaderKeys(t *testing.T) {
	newLoader := func() *loader {
		return &loader{ctx: context.Background(), raw: map[setKey]*dataset.Set{}, filtered: map[filteredKey]*dataset.Set{}}
	}
	xllm := func(l *loader, dir, lang string) {
		l.addSet(setKey{xllm: true, ref: dir, lang: lang}, func() (*dataset.Set, error) { return nil, nil })
	}
	for _, tc := range []struct {
		name  string
		calls func(l *loader)
		reads int
	}{
		{"same file, other filters", func(l *loader) {
			l.set("a.jsonl", "en", 0, readOpts{})
			l.set("a.jsonl", "en", 0.5, readOpts{})
			l.set("a.jsonl", "en", 0.9, readOpts{})
		}, 1},
		{"other language", func(l *loader) {
			l.set("a.jsonl", "en", 0, readOpts{})
			l.set("a.jsonl", "zh", 0, readOpts{})
		}, 2},
		{"other alignment", func(l *loader) {
			l.set("a.jsonl", "en", 0, readOpts{})
			l.set("a.jsonl", "en", 0, readOpts{byIndex: true})
		}, 2},
		{"other read options", func(l *loader) {
			l.set("a", "en", 0, readOpts{})
			l.set("a", "en", 0, readOpts{keepEmpty: true})
			l.set("a", "en", 0, readOpts{format: "parquet"})
			l.set("a", "en", 0.5, readOpts{format: "parquet"})
		}, 3},
		{"x-llm directory named like a file", func(l *loader) {
			l.set("d", "en", 0, readOpts{})
			xllm(l, "d", "en")
			xllm(l, "d", "en")
		}, 2},
		// Byte-joined string keys ("set\x00REF\x00LANG") made these two
		// one key; fields cannot collide.
		{"separator inside a name", func(l *loader) {
			l.set("a\x00en", "zh", 0, readOpts{})
			l.set("a", "en\x00zh", 0, readOpts{})
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLoader()
			tc.calls(l)
			if len(l.tasks) != tc.reads {
				t.Errorf("%d reads scheduled, want %d", len(l.tasks), tc.reads)
			}
		})
	}
}

// TestGetFiltersOnce checks that get applies a key's score filter to the
// shared read and memoizes the result per filter.
func TestGetFiltersOnce(t *testing.T) {
	set := &dataset.Set{Records: []dataset.Record{{ID: "a", Score: 0.2, HasScore: true}, {ID: "b", Score: 0.8, HasScore: true}}}
	l := &loader{raw: map[setKey]*dataset.Set{}, filtered: map[filteredKey]*dataset.Set{}}
	k := setKey{ref: "f", lang: "en"}
	l.raw[k] = set
	if got := l.get(filteredKey{k, 0}); got != set {
		t.Error("an unfiltered key does not return the read set")
	}
	hi := l.get(filteredKey{k, 0.5})
	if len(hi.Records) != 1 || hi.Records[0].ID != "b" {
		t.Errorf("filtered by 0.5: %+v", hi.Records)
	}
	if l.get(filteredKey{k, 0.5}) != hi {
		t.Error("the filtered set is not memoized")
	}
}

// TestConcurrentBuilds builds several mixtures at once (run with -race):
// each Build's loader has its own lock and state, and every result equals
// the one built alone.
func TestConcurrentBuilds(t *testing.T) {
	specs := make([]Spec, 6)
	want := make([]string, len(specs))
	for i := range specs {
		specs[i] = sampleSpec()
		specs[i].Seed = uint64(40 + i%3)
		specs[i].Name = fmt.Sprintf("m%d", i)
		res, err := Build(context.Background(), specs[i])
		if err != nil {
			t.Fatal(err)
		}
		want[i] = res.Hash
	}
	got := make([]string, len(specs))
	errs := make([]error, len(specs))
	var wg sync.WaitGroup
	for i := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := Build(context.Background(), specs[i])
			if err == nil {
				got[i] = res.Hash
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i := range specs {
		if errs[i] != nil {
			t.Fatalf("build %d: %v", i, errs[i])
		}
		if got[i] != want[i] {
			t.Errorf("build %d concurrently: %s, alone: %s", i, got[i], want[i])
		}
	}
}
