package jobdata

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// Line limits of the JSONL files jobdata reads: tokenized files hold whole
// 4096-token sequences per line, mixture records are text.
const (
	maxTokensLine = 256 << 20
	maxRecordLine = 64 << 20
)

// eachLine calls fn with every non-blank line of r, trimmed, and its
// 1-based number; a line longer than maxLine bytes is an error naming name.
// Every JSONL reader of the package goes through it.
func eachLine(r io.Reader, name string, maxLine int, fn func(line int, b []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), maxLine)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if err := fn(line, b); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// decodeStrict decodes one JSON value into v, rejecting unknown fields.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
