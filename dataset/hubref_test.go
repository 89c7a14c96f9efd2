package dataset

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/hub"
)

func TestParseHubRef(t *testing.T) {
	tests := []struct {
		in   string
		want HubRef
		err  string
	}{
		{"hf://datasets/tatsu-lab/alpaca@v1/data/train-00000-of-00001.parquet", HubRef{hub.Dataset, "tatsu-lab/alpaca", "v1", "data/train-00000-of-00001.parquet"}, ""},
		{"hf://datasets/tatsu-lab/alpaca/alpaca_data.json", HubRef{hub.Dataset, "tatsu-lab/alpaca", "main", "alpaca_data.json"}, ""},
		{"hf://models/meta/llama@abc/config.json", HubRef{hub.Model, "meta/llama", "abc", "config.json"}, ""},
		{"hf://datasets/tatsu-lab", HubRef{}, "missing owner"},
		{"hf://things/a/b/c", HubRef{}, "kind must be"},
	}
	for _, tt := range tests {
		got, err := ParseHubRef(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseHubRef(%q) err = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseHubRef(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestLoadRefFromHub(t *testing.T) {
	const commit = "0123456789abcdef0123456789abcdef01234567"
	body := `{"id": 0, "instruction": "问", "input": "", "output": "答"}` + "\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/datasets/lab/alpaca-zh/revision/main":
			json.NewEncoder(w).Encode(map[string]any{"sha": commit, "siblings": []map[string]string{{"rfilename": "zh.jsonl"}}})
		case "/datasets/lab/alpaca-zh/resolve/" + commit + "/zh.jsonl":
			w.Write([]byte(body))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c := hub.NewClient(hub.WithEndpoint(srv.URL), hub.WithCacheDir(t.TempDir()), hub.WithOffline(false))
	s, err := LoadRef(context.Background(), "hf://datasets/lab/alpaca-zh/zh.jsonl", c, WithLang("zh"))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Records) != 1 || s.Records[0].Output != "答" {
		t.Errorf("records = %+v", s.Records)
	}
	if s.Source != "hf://datasets/lab/alpaca-zh@"+commit+"/zh.jsonl" {
		t.Errorf("Source = %s, want the commit pinned", s.Source)
	}
	srv.Close()
	off := hub.NewClient(hub.WithEndpoint(srv.URL), hub.WithCacheDir(c.CacheDir()), hub.WithOffline(true))
	if _, err := LoadRef(context.Background(), "hf://datasets/lab/alpaca-zh/zh.jsonl", off, WithLang("zh")); err != nil {
		t.Errorf("offline LoadRef: %v", err)
	}
}
