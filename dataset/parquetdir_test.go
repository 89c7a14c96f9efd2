package dataset

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/crossin-lab/crossin/hub"
)

// platypusRow is Open-Platypus's schema (garage-bAInd/Open-Platypus,
// data/train-00000-of-00001-*.parquet): four string columns.
type platypusRow struct {
	Instruction string `parquet:"instruction"`
	Input       string `parquet:"input"`
	Output      string `parquet:"output"`
	DataSource  string `parquet:"data_source"`
}

// writeShard writes rows as a Snappy-compressed Parquet file, as pyarrow
// writes the hub's shards, and returns its bytes.
func writeShard[T any](t *testing.T, p string, rows []T) []byte {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[T](f, parquet.Compression(&parquet.Snappy))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func platypusRows(prefix string, n int) []platypusRow {
	rows := make([]platypusRow, n)
	for i := range rows {
		rows[i] = platypusRow{fmt.Sprintf("%s-q%d", prefix, i), "", fmt.Sprintf("%s-a%d", prefix, i), "scibench"}
	}
	return rows
}

func instructions(s *Set) string {
	var out []string
	for _, r := range s.Records {
		out = append(out, r.Instruction)
	}
	return strings.Join(out, ",")
}

func TestSplitOf(t *testing.T) {
	for _, tt := range []struct{ rel, want string }{
		{"train-00000-of-00001-4fe2df04669d1669.parquet", "train"},
		{"train.parquet", "train"},
		{"train/0000.parquet", "train"},
		{"en/train_3.parquet", "train"},
		{"test-00000-of-00001.parquet", "test"},
		{"validation.parquet", "validation"},
		{"training-notes.parquet", ""},
		{"shard-0.parquet", ""},
	} {
		if got := splitOf(tt.rel); got != tt.want {
			t.Errorf("splitOf(%q) = %q, want %q", tt.rel, got, tt.want)
		}
	}
}

// TestLoadDir reads a folder of Parquet shards laid out like Open-Platypus:
// train shards in name order, other splits and non-Parquet files ignored.
func TestLoadDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	writeShard(t, filepath.Join(dir, "train-00001-of-00002-bbb.parquet"), platypusRows("b", 2))
	writeShard(t, filepath.Join(dir, "train-00000-of-00002-aaa.parquet"), platypusRows("a", 3))
	writeShard(t, filepath.Join(dir, "test-00000-of-00001-ccc.parquet"), platypusRows("t", 1))
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("card"), 0o644)
	s, err := Load(dir, WithLang("en"))
	if err != nil {
		t.Fatal(err)
	}
	if got := instructions(s); got != "a-q0,a-q1,a-q2,b-q0,b-q1" {
		t.Errorf("records = %s, want the train shards in name order", got)
	}
	if s.Total != 5 || !s.ByIndex || s.Records[3].ID != "3" || s.Source != dir {
		t.Errorf("Total %d ByIndex %v id %s Source %s", s.Total, s.ByIndex, s.Records[3].ID, s.Source)
	}
	if r := s.Records[3]; r.Line != 1 || !strings.HasSuffix(r.File, "train-00001-of-00002-bbb.parquet") || r.Output != "b-a0" {
		t.Errorf("record 3 = %+v, want row 1 of the second shard", r)
	}

	// A folder without splits in its names: every shard, in path order.
	flat := t.TempDir()
	writeShard(t, filepath.Join(flat, "part-1.parquet"), platypusRows("y", 1))
	writeShard(t, filepath.Join(flat, "nested", "part-0.parquet"), platypusRows("z", 1))
	writeShard(t, filepath.Join(flat, "part-0.parquet"), platypusRows("x", 1))
	s, err = Load(flat)
	if err != nil {
		t.Fatal(err)
	}
	if got := instructions(s); got != "z-q0,x-q0,y-q0" {
		t.Errorf("records = %s, want path order nested/part-0, part-0, part-1", got)
	}
}

// TestLoadDirErrors: every bad folder or row names the file (and row).
func TestLoadDirErrors(t *testing.T) {
	type idRow struct {
		ID          string `parquet:"id"`
		Instruction string `parquet:"instruction"`
		Output      string `parquet:"output"`
	}
	type scoreRow struct {
		Instruction string `parquet:"instruction"`
		Output      string `parquet:"output"`
		Score       string `parquet:"score"`
	}
	tests := []struct {
		name  string
		setup func(dir string)
		opts  []Option
		want  string // with DIR for the folder
	}{
		{"empty folder", func(string) {}, nil, "DIR: folder holds no .parquet files"},
		{"only other files", func(dir string) { os.WriteFile(filepath.Join(dir, "a.json"), []byte("[]"), 0o644) }, nil, "DIR: folder holds no .parquet files"},
		{"not parquet", func(dir string) { os.WriteFile(filepath.Join(dir, "train-0.parquet"), []byte("nope"), 0o644) }, nil, "DIR/train-0.parquet: not a readable Parquet file"},
		{"bad score in second shard", func(dir string) {
			writeShard(t, filepath.Join(dir, "train-0.parquet"), platypusRows("a", 2))
			writeShard(t, filepath.Join(dir, "train-1.parquet"), []scoreRow{{"q", "a", "0.9"}, {"q", "a", "high"}})
		}, nil, "DIR/train-1.parquet:1: score column: expected a number"},
		{"duplicate id across shards", func(dir string) {
			writeShard(t, filepath.Join(dir, "train-0.parquet"), []idRow{{"k1", "q", "a"}, {"k2", "q", "a"}})
			writeShard(t, filepath.Join(dir, "train-1.parquet"), []idRow{{"k3", "q", "a"}, {"k2", "q", "a"}})
		}, nil, "DIR/train-1.parquet:2: duplicate id k2 (first at DIR/train-0.parquet:2)"},
		{"ids in one shard only", func(dir string) {
			writeShard(t, filepath.Join(dir, "train-0.parquet"), []idRow{{"k1", "q", "a"}})
			writeShard(t, filepath.Join(dir, "train-1.parquet"), platypusRows("a", 1))
		}, nil, `DIR/train-1.parquet:1: record has no "id" field`},
		{"no columns", func(dir string) {
			writeShard(t, filepath.Join(dir, "train-0.parquet"), []struct {
				Q string `parquet:"q"`
			}{{"x"}})
		}, nil, "DIR/train-0.parquet: Parquet schema has no instruction/output columns (columns: q)"},
		{"folder with a JSON format", func(dir string) { writeShard(t, filepath.Join(dir, "train-0.parquet"), platypusRows("a", 1)) }, []Option{WithFormat(".jsonl")}, "DIR: unrecognised data format: a folder is read as Parquet shards"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(dir)
			_, err := Load(dir, tt.opts...)
			want := strings.ReplaceAll(tt.want, "DIR", dir)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v\nwant %q", err, want)
			}
		})
	}
}

// TestKeepEmpty: the reference builder keeps rows with an empty output; so
// does WithKeepEmpty, at their positions.
func TestKeepEmpty(t *testing.T) {
	p := write(t, "a.json", `[{"instruction":"a","output":"b"},{"instruction":"c","output":""},{"instruction":"e","output":"f"}]`)
	s, err := Load(p)
	if err != nil || len(s.Records) != 2 || s.Skipped.Empty != 1 {
		t.Fatalf("default: %v, %d records, %+v", err, len(s.Records), s.Skipped)
	}
	s, err = Load(p, WithKeepEmpty())
	if err != nil || len(s.Records) != 3 || s.Records[1].ID != "1" || s.Skipped.Empty != 0 {
		t.Fatalf("WithKeepEmpty: %v, %+v", err, s)
	}
}

// TestLoadRefHubFolder loads hf://datasets/garage-bAInd/Open-Platypus/data
// from a stand-in hub: the train shards of the folder, pinned to the
// commit, then again offline from the cache.
func TestLoadRefHubFolder(t *testing.T) {
	const commit = "89d0ca8b1e0b4e7b5cbae2c7b3b1e1d0a1b2c3d4"
	src := t.TempDir()
	files := map[string][]byte{
		"data/train-00000-of-00002-x.parquet": writeShard(t, filepath.Join(src, "a.parquet"), platypusRows("a", 2)),
		"data/train-00001-of-00002-y.parquet": writeShard(t, filepath.Join(src, "b.parquet"), platypusRows("b", 1)),
		"data/test-00000-of-00001-z.parquet":  writeShard(t, filepath.Join(src, "c.parquet"), platypusRows("t", 1)),
		"README.md":                           []byte("card"),
		"other/x.jsonl":                       []byte(`{"instruction":"q","output":"a"}`),
	}
	var siblings []map[string]any
	for _, name := range []string{"README.md", "data/test-00000-of-00001-z.parquet", "data/train-00001-of-00002-y.parquet", "data/train-00000-of-00002-x.parquet", "other/x.jsonl"} {
		sum := sha256.Sum256(files[name])
		siblings = append(siblings, map[string]any{"rfilename": name, "size": len(files[name]), "lfs": map[string]any{"sha256": hex.EncodeToString(sum[:]), "size": len(files[name])}})
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/datasets/garage-bAInd/Open-Platypus/revision/main" || r.URL.Path == "/api/datasets/garage-bAInd/Open-Platypus/revision/"+commit {
			json.NewEncoder(w).Encode(map[string]any{"sha": commit, "siblings": siblings})
			return
		}
		if name, ok := strings.CutPrefix(r.URL.Path, "/datasets/garage-bAInd/Open-Platypus/resolve/"+commit+"/"); ok {
			if b, ok := files[name]; ok {
				w.Write(b)
				return
			}
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	c := hub.NewClient(hub.WithEndpoint(srv.URL), hub.WithCacheDir(t.TempDir()), hub.WithOffline(false))
	ctx := context.Background()
	s, err := LoadRef(ctx, "hf://datasets/garage-bAInd/Open-Platypus@main/data", c, WithLang("en"))
	if err != nil {
		t.Fatal(err)
	}
	if got := instructions(s); got != "a-q0,a-q1,b-q0" {
		t.Errorf("records = %s", got)
	}
	if want := "hf://datasets/garage-bAInd/Open-Platypus@" + commit + "/data"; s.Source != want {
		t.Errorf("Source = %s, want %s", s.Source, want)
	}
	if want := "hf://datasets/garage-bAInd/Open-Platypus@" + commit + "/data/train-00001-of-00002-y.parquet"; s.Records[2].File != want {
		t.Errorf("File = %s, want %s", s.Records[2].File, want)
	}
	for _, tt := range []struct{ ref, want string }{
		{"hf://datasets/garage-bAInd/Open-Platypus/nothing", "no such file or folder"},
		{"hf://datasets/garage-bAInd/Open-Platypus/other", "folder holds no .parquet files"},
	} {
		if _, err := LoadRef(ctx, tt.ref, c); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("LoadRef(%s) err = %v, want %q", tt.ref, err, tt.want)
		}
	}
	srv.Close()
	off := hub.NewClient(hub.WithEndpoint(srv.URL), hub.WithCacheDir(c.CacheDir()), hub.WithOffline(true))
	s2, err := LoadRef(ctx, "hf://datasets/garage-bAInd/Open-Platypus@"+commit+"/data", off, WithLang("en"))
	if err != nil {
		t.Fatalf("offline: %v", err)
	}
	if instructions(s2) != instructions(s) {
		t.Errorf("offline records differ")
	}
}
