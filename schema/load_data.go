package schema

import (
	"os"
	"strings"

	"cuelang.org/go/cue"
)

func (l *loader) dataSource(v cue.Value) *DataSource {
	var d DataSource
	if !l.decodeInto(v, &d) {
		return nil
	}
	d.Name, d.Pos = label(v), l.pos(v)
	l.exactlyOne(v, "files", "path")
	if len(d.Files) > 0 {
		keys := make([]string, 0, len(d.Files))
		for k := range d.Files {
			keys = append(keys, k)
		}
		sortLangs(keys)
		if len(d.Languages) == 0 {
			d.Languages = keys
		} else if !sameSet(keys, d.Languages) {
			l.is.add(l.pos(v.LookupPath(cue.ParsePath("languages"))), pathOf(v)+".languages", "languages %s differ from the languages of files (%s)", strings.Join(d.Languages, ", "), strings.Join(keys, ", "))
		}
		if d.Hub == nil {
			for _, k := range keys {
				fv := v.LookupPath(cue.MakePath(cue.Str("files"), cue.Str(k)))
				d.Files[k] = l.localPath(fv, d.Files[k])
				l.mustExist(fv, d.Files[k], false)
			}
		}
	}
	if d.Path != "" {
		if len(d.Languages) == 0 {
			l.is.add(l.pos(v), pathOf(v)+".languages", "languages must be given when path is used")
		}
		if d.Hub == nil {
			pv := v.LookupPath(cue.ParsePath("path"))
			d.Path = l.localPath(pv, d.Path)
			switch d.Format {
			case "xllm": // a directory of per-language files
				l.mustExist(pv, d.Path, true)
			case "parquet": // one file or a directory of shards
				if _, err := os.Stat(d.Path); err != nil {
					l.is.add(l.pos(pv), pathOf(pv), "%s does not exist", l.show(d.Path))
				}
			default:
				l.mustExist(pv, d.Path, false)
			}
		}
	}
	if dup := duplicate(d.Languages); dup != "" {
		l.is.add(l.pos(v.LookupPath(cue.ParsePath("languages"))), pathOf(v)+".languages", "language %q listed twice", dup)
	}
	return &d
}
