package mixture

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
)

func stdEncode(records []Record) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range records {
		r := records[i]
		if r.SourceIDs == nil {
			r.SourceIDs = []string{}
		}
		if err := enc.Encode(&r); err != nil {
			panic(err)
		}
	}
	return buf.Bytes()
}

// TestEncodeMatchesEncodingJSON pins Encode to encoding/json's output.
func TestEncodeMatchesEncodingJSON(t *testing.T) {
	odd := []string{
		"", "plain", `quote " and \ backslash`, "ctl \x00\x01\x07\b\f\n\r\t\x1f\x7f end",
		"<html> & 'apos'", "中文，Tiếng Việt, emoji 😀", "bad utf8 \xff\xc3 x\xe4\xb8", "line sep \u2028 para \u2029",
		"\ufffd literal", "/slash/",
	}
	var recs []Record
	for i, s := range odd {
		recs = append(recs, Record{ID: s, Mode: X2X, SrcLang: "zh", TgtLang: "vi", Instruction: s, Input: odd[(i+1)%len(odd)], Output: s + s, SourceIDs: []string{s, "en:1"}})
	}
	recs = append(recs, Record{ID: "nil-sources", Mode: Base, SrcLang: "en", TgtLang: "en"})
	if got, want := Encode(recs), stdEncode(recs); !bytes.Equal(got, want) {
		t.Errorf("Encode differs from encoding/json:\n got %s\nwant %s", got, want)
	}
	res, err := Build(context.Background(), sampleSpec())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Encode(res.Records), stdEncode(res.Records); !bytes.Equal(got, want) {
		t.Error("Encode differs from encoding/json on the sample mixture")
	}
}
