package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/internal/sharedtest"
)

// TestDataBuildShared runs `crossin data build` on the paper-scale data in
// ../shared twice in one process: the language rules hold on every record,
// the coverage report matches the data's SOURCE.md figures, and the second
// run (same flags) writes the same bytes.
func TestDataBuildShared(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 56 MB of shared data")
	}
	sh := sharedtest.Path(t, "data")
	in := filepath.Join(sh, "instructions")
	sharedtest.Path(t, "data/instructions/alpaca_en/alpaca_data.json")
	dir := t.TempDir()
	args := func(out string) []string {
		return []string{"data", "build",
			"--english", filepath.Join(in, "alpaca_en", "alpaca_data.json"),
			"--parallel", "zh=" + filepath.Join(in, "alpaca_zh_hikariming", "alpaca_zh_aligned.jsonl"),
			"--parallel", "vi=" + filepath.Join(in, "alpaca_vi_gpt4vn", "alpaca_vi_aligned.jsonl"),
			"--min-score", "0.55",
			"--translation", filepath.Join(sh, "flores_seaeval", "flores200_dev_en_vi_zh_id_ms.jsonl"),
			"--variant", "x2x=3000", "--variant", "en2x=3000", "--variant", "trans=1000",
			"-o", out}
	}
	var outs [][]byte
	for i, name := range []string{"a.jsonl", "b.jsonl"} {
		var stdout, stderr bytes.Buffer
		out := filepath.Join(dir, name)
		if code := Run(context.Background(), args(out), nil, &stdout, &stderr); code != 0 {
			t.Fatalf("run %d: exit %d: %s", i, code, stderr.String())
		}
		for _, re := range []string{
			`(?m)^wrote .*: 7000 records$`,
			`(?m)^zh +16804 +51978 +16876 +72 \(14 unaligned, 50 low score, 8 empty\)`,
			`(?m)^vi +49897 +51978 +51092 +1195 \(28 unaligned, 1167 low score, 0 empty\)`,
		} {
			if !regexp.MustCompile(re).MatchString(stdout.String()) {
				t.Errorf("run %d: output lacks %s:\n%s", i, re, stdout.String())
			}
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, b)
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Error("two runs with the same flags wrote different bytes")
	}
	sameLang := regexp.MustCompile(`"mode":"x2x","src_lang":"(en|zh|vi)","tgt_lang":"(en|zh|vi)"`)
	for _, line := range strings.Split(strings.TrimSpace(string(outs[0])), "\n") {
		if m := sameLang.FindStringSubmatch(line); m != nil && m[1] == m[2] {
			t.Fatalf("x2x record with equal languages: %.200s", line)
		}
		if strings.Contains(line, `"mode":"en2x","src_lang":"en","tgt_lang":"en"`) {
			t.Fatalf("en2x record with an English response: %.200s", line)
		}
	}
}

// TestDataFetch fetches from a local server that speaks the hub API, then
// again offline from the cache; the token never reaches the output.
func TestDataFetch(t *testing.T) {
	const commit = "89abcdef0123456789abcdef0123456789abcdef"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer hf_test_secret" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/api/datasets/lab/alpaca/revision/v1":
			fmt.Fprintf(w, `{"sha": %q, "siblings": [{"rfilename": "zh.jsonl"}]}`, commit)
		case "/datasets/lab/alpaca/resolve/" + commit + "/zh.jsonl":
			w.Write([]byte(`{"id": 0, "instruction": "问", "input": "", "output": "答"}` + "\n"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	t.Setenv("HF_ENDPOINT", srv.URL)
	t.Setenv("HF_TOKEN", "hf_test_secret")
	t.Setenv("HF_HUB_OFFLINE", "")
	t.Setenv("CROSSIN_CACHE", t.TempDir())
	run := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := Run(context.Background(), args, nil, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	code, out, errOut := run("data", "fetch", "hf://datasets/lab/alpaca@v1/zh.jsonl")
	if code != 0 || !strings.HasPrefix(out, "hf://datasets/lab/alpaca@"+commit+"/zh.jsonl\t") {
		t.Fatalf("fetch: exit %d\n%s%s", code, out, errOut)
	}
	srv.Close()
	code, out2, errOut := run("data", "fetch", "--offline", "hf://datasets/lab/alpaca@v1/zh.jsonl")
	if code != 0 || out2 != out {
		t.Fatalf("offline fetch: exit %d\n%s%s", code, out2, errOut)
	}
	code, _, errOut = run("data", "fetch", "--offline", "hf://datasets/lab/alpaca@v2/zh.jsonl")
	if code != 1 || !strings.Contains(errOut, "offline") || strings.Contains(errOut, "hf_test_secret") {
		t.Errorf("offline fetch of an unknown revision: exit %d: %s", code, errOut)
	}
	if code, _, errOut = run("data", "fetch", "/tmp/x.json"); code != 2 {
		t.Errorf("local path: exit %d: %s", code, errOut)
	}
}
