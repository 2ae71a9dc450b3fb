package provisioner

import (
	"strings"
)

// recordPrefix starts every machine-readable line a guest script prints.
const recordPrefix = "amih:"

// doneRecordPrefix starts the completion record (lib.sh's amih_exit), which
// is looked for anywhere in a line: a script's last output may lack its
// newline.
const doneRecordPrefix = recordPrefix + "done\t"

// record is one machine-readable line of a guest script's output:
//
//	amih:<kind><TAB><field><TAB>...
//
// See scripts/lib.sh for the kinds and the field escaping.
type record struct {
	Kind   string
	Fields []string
}

// field returns field i, or "" when the record has fewer fields.
func (r record) field(i int) string {
	if i < len(r.Fields) {
		return r.Fields[i]
	}
	return ""
}

// parseRecord parses one output line; ok is false for ordinary output.
func parseRecord(line string) (r record, ok bool) {
	line = strings.TrimRight(line, "\r\n")
	if !strings.HasPrefix(line, recordPrefix) {
		return record{}, false
	}
	parts := strings.Split(line[len(recordPrefix):], "\t")
	if parts[0] == "" {
		return record{}, false
	}
	r.Kind = parts[0]
	for _, p := range parts[1:] {
		r.Fields = append(r.Fields, unescapeField(p))
	}
	return r, true
}

// unescapeField reverses the escaping of scripts/lib.sh's amih_field.
func unescapeField(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
