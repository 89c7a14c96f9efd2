package check

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/crossin-lab/crossin/dataset"
	"github.com/crossin-lab/crossin/schema"
)

// sourceSize is what the check learnt from a local data source: its sets
// per language and, for several languages, their alignment.
type sourceSize struct {
	sets map[string]*dataset.Set
	par  *dataset.Parallel
}

// dataSources reads every local data source a used mixture draws from: the
// declared format must match the file, the text must be UTF-8 (unless the
// source opts into replacement), and the loader must accept every record.
func (c *checker) dataSources() {
	used := map[string]bool{}
	for _, m := range c.usedMixtures() {
		for _, p := range parts(m) {
			used[p.part.Source] = true
		}
	}
	for _, ds := range c.spec.Data {
		if !used[ds.Name] || ds.Hub != nil {
			continue
		}
		size := &sourceSize{sets: map[string]*dataset.Set{}}
		ok := true
		opts := func(lang string) []dataset.Option {
			o := []dataset.Option{dataset.WithMinScore(ds.MinScore)}
			if lang != "" {
				o = append(o, dataset.WithLang(lang))
			}
			if ds.Align == "index" {
				o = append(o, dataset.WithAlignByIndex())
			}
			if ext := formatExt(ds.Format); ext != "" {
				o = append(o, dataset.WithFormat(ext))
			}
			return o
		}
		switch {
		case ds.Format == "xllm":
			sets, err := dataset.LoadXLLM(ds.Path, "", ds.Languages, opts("")...)
			if err != nil {
				c.errorf(ds.Pos, "data."+ds.Name+".path", "%v", err)
				ok = false
				break
			}
			for _, s := range sets {
				size.sets[s.Lang] = s
			}
		case len(ds.Files) > 0:
			for _, lang := range ds.Languages {
				if s := c.loadFile(ds, "data."+ds.Name+".files."+lang, ds.Files[lang], opts(lang)); s != nil {
					size.sets[lang] = s
				} else {
					ok = false
				}
			}
		case ds.Path != "":
			lang := ""
			if len(ds.Languages) == 1 {
				lang = ds.Languages[0]
			}
			if s := c.loadFile(ds, "data."+ds.Name+".path", ds.Path, opts(lang)); s != nil {
				size.sets[lang] = s
				if lang == "" && len(ds.Languages) > 0 {
					size.sets[ds.Languages[0]] = s
				}
			} else {
				ok = false
			}
		}
		if !ok {
			continue
		}
		if len(ds.Files) > 1 || (ds.Format == "xllm" && len(size.sets) > 1) {
			var sets []*dataset.Set
			for _, lang := range ds.Languages {
				sets = append(sets, size.sets[lang])
			}
			par, err := dataset.Align(sets...)
			if err != nil {
				c.errorf(ds.Pos, "data."+ds.Name, "%v", err)
				continue
			}
			size.par = par
		}
		c.sizes[ds.Name] = size
	}
}

// formatExt maps a data source format to the loader's extension.
func formatExt(format string) string {
	switch format {
	case "jsonl":
		return ".jsonl"
	case "alpaca-json":
		return ".json"
	case "parquet":
		return ".parquet"
	}
	return ""
}

// loadFile checks one local file of a data source and loads it; nil means
// an error was reported.
func (c *checker) loadFile(ds *schema.DataSource, path, file string, opts []dataset.Option) *dataset.Set {
	if err := sniff(file, ds.Format); err != nil {
		c.errorf(ds.Pos, path, "%v", err)
		return nil
	}
	if ds.InvalidUTF8 != "replace" && ds.Format != "parquet" {
		if err := checkUTF8(file); err != nil {
			c.errorf(ds.Pos, path, "%v; re-encode the file as UTF-8, or set invalid_utf8: \"replace\" on data source %q to read each bad byte as U+FFFD", err, ds.Name)
			return nil
		}
	}
	s, err := dataset.Load(file, opts...)
	if err != nil {
		c.errorf(ds.Pos, path, "%v", err)
		return nil
	}
	return s
}

// sniff checks that file can be read in the declared format: a Parquet
// file starts with "PAR1" (a folder of shards is allowed), a JSON format
// starts with an object or an array.
func sniff(file, format string) error {
	fi, err := os.Stat(file)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		if format == "parquet" {
			return nil
		}
		return fmt.Errorf("%s is a folder, but format %q reads one file; give the file, or set format: \"parquet\" for a folder of Parquet shards", file, format)
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return err
	}
	head = head[:n]
	isParquet := bytes.HasPrefix(head, []byte("PAR1"))
	first := byte(0)
	if t := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n"); len(t) > 0 {
		first = t[0]
	}
	switch format {
	case "parquet":
		if !isParquet {
			return fmt.Errorf("%s is not a Parquet file (it does not start with PAR1)%s", file, jsonHint(first))
		}
	default: // jsonl, alpaca-json
		switch {
		case isParquet:
			return fmt.Errorf("%s is a Parquet file, but format is %q; set format: \"parquet\"", file, format)
		case first == '[' && format == "jsonl":
			return fmt.Errorf("%s holds a JSON array, but format is \"jsonl\" (one object a line); set format: \"alpaca-json\"", file)
		case first != '{' && first != '[' && first != 0:
			return fmt.Errorf("%s is neither JSON Lines nor a JSON array (it starts with %q); format %q wants JSON", file, first, format)
		}
	}
	return nil
}

func jsonHint(first byte) string {
	switch first {
	case '{':
		return `; it looks like JSON Lines: set format: "jsonl"`
	case '[':
		return `; it looks like a JSON array: set format: "alpaca-json"`
	}
	return ""
}

// checkUTF8 reports the first line of file that is not valid UTF-8.
func checkUTF8(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	line := 0
	for {
		b, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A very long line: collect it whole.
			buf := append([]byte(nil), b...)
			for errors.Is(err, bufio.ErrBufferFull) {
				b, err = r.ReadSlice('\n')
				buf = append(buf, b...)
			}
			b = buf
		}
		if len(b) > 0 {
			line++
			if !utf8.Valid(b) {
				col := 1
				for len(b) > 0 {
					r, size := utf8.DecodeRune(b)
					if r == utf8.RuneError && size <= 1 {
						return fmt.Errorf("%s:%d: invalid UTF-8 (byte 0x%02x at column %d)", filepath.Clean(file), line, b[0], col)
					}
					b, col = b[size:], col+size
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
