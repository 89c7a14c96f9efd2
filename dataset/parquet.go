package dataset

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// readParquet reads a flat Parquet table (the layout Hugging Face datasets
// writes for instruction sets): string columns instruction|prompt, input,
// output|response, an optional id (string or integer) and score (float).
// name is the file's name in errors (a hub reference for a downloaded file).
func readParquet(path, name string, cfg *config) ([]rawRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, &PosError{File: name, Msg: fmt.Sprintf("not a readable Parquet file: %v", err)}
	}
	cols := map[string]int{}
	var names []string
	for i, p := range pf.Schema().Columns() {
		name := strings.Join(p, ".")
		cols[name] = i
		names = append(names, name)
	}
	pick := func(want string, aliases ...string) int {
		if want != "" {
			aliases = []string{want}
		}
		for _, a := range aliases {
			if i, ok := cols[a]; ok {
				return i
			}
		}
		return -1
	}
	fl := cfg.fields
	iInstr := pick(fl.Instruction, "instruction", "prompt")
	iInput := pick(fl.Input, "input")
	iOutput := pick(fl.Output, "output", "response")
	iID := pick(fl.ID, "id")
	iScore := pick(fl.Score, "score")
	if iInstr < 0 || iOutput < 0 {
		return nil, &PosError{File: name, Msg: fmt.Sprintf("Parquet schema has no instruction/output columns (columns: %s); name them with field options", strings.Join(names, ", "))}
	}
	r := parquet.NewReader(pf)
	defer r.Close()
	out := make([]rawRecord, 0, pf.NumRows())
	buf := make([]parquet.Row, 256)
	rowNo := 0
	for {
		n, err := r.ReadRows(buf)
		for _, row := range buf[:n] {
			rowNo++
			rec := rawRecord{line: rowNo}
			for _, v := range row {
				c := v.Column()
				switch c {
				case iInstr:
					rec.instruction = valueString(v)
				case iInput:
					rec.input = valueString(v)
				case iOutput:
					rec.output = valueString(v)
				case iScore:
					if !v.IsNull() {
						s, ok := valueFloat(v)
						if !ok {
							return nil, &PosError{File: name, Line: rowNo, Msg: "score column: expected a number"}
						}
						rec.score, rec.hasScore = s, true
					}
				case iID:
					if v.IsNull() {
						rec.idState = idNull
						continue
					}
					rec.idState = idPresent
					switch v.Kind() {
					case parquet.Int32, parquet.Int64:
						rec.id = strconv.FormatInt(v.Int64(), 10)
					case parquet.ByteArray, parquet.FixedLenByteArray:
						rec.id = string(v.ByteArray())
					default:
						return nil, &PosError{File: name, Line: rowNo, Msg: fmt.Sprintf("id column: expected a string or integer, found %s", v.Kind())}
					}
				}
			}
			out = append(out, rec)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, &PosError{File: name, Line: rowNo + 1, Msg: fmt.Sprintf("reading Parquet rows: %v", err)}
		}
	}
	return out, nil
}

func valueString(v parquet.Value) string {
	if v.IsNull() {
		return ""
	}
	if k := v.Kind(); k == parquet.ByteArray || k == parquet.FixedLenByteArray {
		return string(v.ByteArray())
	}
	return v.String()
}

func valueFloat(v parquet.Value) (float64, bool) {
	switch v.Kind() {
	case parquet.Double:
		return v.Double(), true
	case parquet.Float:
		return float64(v.Float()), true
	case parquet.Int32, parquet.Int64:
		return float64(v.Int64()), true
	}
	return 0, false
}
