package check

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSniff(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	jsonl := write("a.jsonl", "{\"instruction\":\"x\"}\n")
	array := write("a.json", "\xef\xbb\xbf  [{\"instruction\":\"x\"}]")
	pq := write("a.parquet", "PAR1....PAR1")
	text := write("a.txt", "hello")
	tests := []struct {
		file, format, want string // want: substring of the error, "" for none
	}{
		{jsonl, "jsonl", ""},
		{array, "alpaca-json", ""},
		{jsonl, "alpaca-json", ""}, // the loader reads JSON Lines from .json too
		{pq, "parquet", ""},
		{dir, "parquet", ""}, // a folder of shards
		{jsonl, "parquet", `is not a Parquet file (it does not start with PAR1); it looks like JSON Lines: set format: "jsonl"`},
		{array, "parquet", `it looks like a JSON array: set format: "alpaca-json"`},
		{pq, "jsonl", `is a Parquet file, but format is "jsonl"; set format: "parquet"`},
		{array, "jsonl", `holds a JSON array, but format is "jsonl" (one object a line); set format: "alpaca-json"`},
		{text, "jsonl", `is neither JSON Lines nor a JSON array (it starts with 'h')`},
		{dir, "jsonl", `is a folder, but format "jsonl" reads one file`},
	}
	for _, tt := range tests {
		err := sniff(tt.file, tt.format)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("sniff(%s, %s): %v", filepath.Base(tt.file), tt.format, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("sniff(%s, %s) = %v, want an error containing %q", filepath.Base(tt.file), tt.format, err, tt.want)
		}
	}
}

func TestCheckUTF8(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		body, want string
	}{
		{"{\"a\":\"ok\"}\n{\"a\":\"中文 tiếng\"}\n", ""},
		{"{\"a\":\"ok\"}\n{\"a\":\"b\xffc\"}\n", "x.jsonl:2: invalid UTF-8 (byte 0xff at column 8)"},
		{"\xc3", "x.jsonl:1: invalid UTF-8 (byte 0xc3 at column 1)"},                                      // truncated, no newline
		{strings.Repeat("a", 3<<20) + "\xfe\n", "x.jsonl:1: invalid UTF-8 (byte 0xfe at column 3145729)"}, // longer than the read buffer
	}
	for i, tt := range tests {
		p := filepath.Join(dir, "x.jsonl")
		if err := os.WriteFile(p, []byte(tt.body), 0o644); err != nil {
			t.Fatal(err)
		}
		err := checkUTF8(p)
		got := ""
		if err != nil {
			got = strings.TrimPrefix(err.Error(), dir+string(filepath.Separator))
		}
		if got != tt.want {
			t.Errorf("case %d: checkUTF8 = %q, want %q", i, got, tt.want)
		}
	}
}
