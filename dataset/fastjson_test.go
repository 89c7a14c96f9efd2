package dataset

import (
	"bytes"
	"os"
	"testing"
)

// checkSame asserts that fastDecode either declines or agrees exactly with
// the encoding/json reference.
func checkSame(t *testing.T, b []byte) (fast bool) {
	t.Helper()
	var want rawRecord
	werr := decodeStd(b, &want)
	var got rawRecord
	if !fastDecode(b, &got) {
		return false
	}
	if werr != nil {
		t.Fatalf("fastDecode accepted %q, encoding/json rejects it: %v", b, werr)
	}
	if got != want {
		t.Fatalf("fastDecode(%q) =\n%+v\nencoding/json:\n%+v", b, got, want)
	}
	return true
}

func TestFastDecodeEdgeCases(t *testing.T) {
	tests := []struct {
		in   string
		fast bool // whether the fast path should take it
	}{
		{`{"instruction": "a", "input": "", "output": "b"}`, true},
		{`{}`, true},
		{` { "id" : 12 , "score" : 0.55 , "prompt" : "p" , "response" : "r" } `, true},
		{`{"id": null, "score": null, "instruction": null, "output": "x"}`, true},
		{`{"instruction": "a", "instruction": null, "output": "b"}`, true},
		{`{"instruction": "a", "instruction": "c", "output": "b"}`, true},
		{`{"score": 0.3, "score": null, "instruction": "a", "output": "b"}`, true},
		{`{"id": "test_1", "output_has_cjk": false, "extra": true, "n": -1.5e3, "s": "x"}`, true},
		{`{"instruction": "tab\there \"q\" \\ \/ \b\f\r\n \u00e9 \u4e2d \ud83d\ude00", "output": "x"}`, true},
		{`{"instruction": "lone \ud83d high, lone \ude00 low, \ud83d\u0041 pair-less", "output": "x"}`, true},
		{"{\"instruction\": \"bad utf8 \xff\xfe here\", \"output\": \"\xc3\"}", true},
		{`{"instr\u0075ction": "escaped key", "output": "x"}`, true},
		{`{"Instruction": "case folded key", "output": "x"}`, false},
		{`{"ſcore": 1}`, false},
		{`{"meta": {"nested": 1}, "instruction": "a", "output": "b"}`, false},
		{`{"instruction": 5, "output": "b"}`, false},
		{`{"instruction": "a", "output": "b",}`, false},
		{`{"instruction": "a" "output": "b"}`, false},
		{`{"instruction": "a", "output": "b"} x`, false},
		{"{\"instruction\": \"raw\ncontrol\", \"output\": \"b\"}", false},
		{`{"id": 1.5, "instruction": "a", "output": "b"}`, false},
		{`{"id": -1, "instruction": "a", "output": "b"}`, false},
		{`{"id": 01, "instruction": "a", "output": "b"}`, false},
		{`{"score": 1e400, "instruction": "a", "output": "b"}`, false},
		{`{"score": .5, "instruction": "a", "output": "b"}`, false},
		{`{"instruction": "\x", "output": "b"}`, false},
		{`{"instruction": "\u12", "output": "b"}`, false},
		{`{"instruction": "unterminated`, false},
	}
	for _, tt := range tests {
		if got := checkSame(t, []byte(tt.in)); got != tt.fast {
			t.Errorf("fast path taken = %v for %q, want %v", got, tt.in, tt.fast)
		}
	}
}

// TestFastDecodeShared compares the fast path with encoding/json on every
// record of the shared Alpaca files.
func TestFastDecodeShared(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 56 MB of shared data")
	}
	for _, rel := range []string{
		"instructions/alpaca_zh_hikariming/alpaca_zh_aligned.jsonl",
		"instructions/alpaca_vi_gpt4vn/alpaca_vi_aligned.jsonl",
	} {
		data, err := os.ReadFile(shared(t, rel))
		if err != nil {
			t.Fatal(err)
		}
		n, fast := 0, 0
		for _, line := range bytes.Split(data, []byte{'\n'}) {
			if len(line) == 0 {
				continue
			}
			n++
			if checkSame(t, line) {
				fast++
			}
		}
		if fast != n {
			t.Errorf("%s: fast path took %d of %d records", rel, fast, n)
		}
	}
	// The English array, element by element.
	p := shared(t, "instructions/alpaca_en/alpaca_data.json")
	data, _ := os.ReadFile(p)
	spans := splitForTest(t, data)
	fast := 0
	for _, sp := range spans {
		if checkSame(t, data[sp.start:sp.end]) {
			fast++
		}
	}
	if fast != 52002 {
		t.Errorf("alpaca_data.json: fast path took %d of 52002 records", fast)
	}
}

// splitForTest returns the spans of the objects directly inside a
// top-level JSON array.
func splitForTest(t *testing.T, data []byte) []span {
	t.Helper()
	var spans []span
	depth, inStr, start := 0, false, -1
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inStr {
			if c == '\\' {
				i++
			} else if c == '"' {
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{':
			if depth == 1 {
				start = i
			}
			depth++
		case '[':
			depth++
		case '}':
			depth--
			if depth == 1 {
				spans = append(spans, span{start: start, end: i + 1})
			}
		case ']':
			depth--
		}
	}
	return spans
}
