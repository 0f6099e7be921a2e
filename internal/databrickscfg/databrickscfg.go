// Package databrickscfg reads and edits the Databricks configuration file
// (~/.databrickscfg, or $DATABRICKS_CONFIG_FILE), where the Databricks SDKs,
// CLI and tools find named profiles: INI sections of unified-auth
// attributes such as host, account_id, auth_type and metadata_service_url.
//
// It reads the file as the Databricks SDK for Go and CLI do (gopkg.in/ini.v1
// with the SDK's options: '#' or ';' comments, "key = value" or "key:
// value", an inline comment only after a space, a value continued by a
// trailing backslash or spanning lines in """ or backticks, a section named
// twice merged, the last of a key winning), and refuses, with the line and
// what is wrong, any file those would refuse. It edits one section at a
// time and keeps every other byte of the file as it was: other profiles,
// comments, blank lines, line endings, a byte-order mark.
//
// Load and Write add the file rules of `token databricks configure`: never
// through a symlink, only a regular file of the user's own (on Unix),
// replaced atomically (a temporary file in the same directory, fsync,
// rename, fsync of the directory) with mode 0600, and never over a change
// made by someone else since it was read.
package databrickscfg

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
)

// Section names the Databricks tools reserve: DEFAULT holds the keys before
// any section (and is the SDKs' profile when none is named); __settings__
// holds the CLI's own settings.
const (
	DefaultSection  = "DEFAULT"
	SettingsSection = "__settings__"
)

// ErrSyntax is wrapped by every error of a file the SDKs would not read.
var ErrSyntax = errors.New("not a valid Databricks configuration file")

// KV is one key and its value.
type KV struct{ Key, Value string }

// File is a parsed configuration file, kept as its bytes.
type File struct {
	data  []byte
	bom   int    // bytes of a UTF-8 byte-order mark
	nl    string // the line ending of new lines: the file's first one, else "\n"
	lines []line
	// occ lists the sections as they occur, DEFAULT (implicit, at line 0)
	// first.
	occ []occurrence
}

// line is one physical line, or a logical one spanning several (a
// continued or multi-line value): bytes [start, end) of data, newline
// included.
type line struct {
	start, end int
	kind       lineKind
	key, value string // lineKey
}

type lineKind int

const (
	lineBlank lineKind = iota
	lineComment
	lineSection
	lineKey
)

// occurrence is one [name] header and the lines up to the next: lines
// [header, end) (header is -1 for the implicit DEFAULT at the top).
type occurrence struct {
	name        string
	header, end int
}

// Parse reads data as the Databricks SDK for Go does, and fails where it
// would, naming the line.
func Parse(data []byte) (*File, error) {
	f := &File{data: data, nl: "\n"}
	switch {
	case bytes.HasPrefix(data, []byte{0xef, 0xbb, 0xbf}):
		f.bom = 3
	case bytes.HasPrefix(data, []byte{0xfe, 0xff}), bytes.HasPrefix(data, []byte{0xff, 0xfe}):
		return nil, fmt.Errorf("%w: it is UTF-16 (it starts with a UTF-16 byte-order mark): save it as UTF-8", ErrSyntax)
	}
	if i := bytes.IndexByte(data, '\n'); i > 0 && data[i-1] == '\r' {
		f.nl = "\r\n"
	}
	f.occ = []occurrence{{name: DefaultSection, header: -1}}
	pos, n := f.bom, 1 // n: the line number of pos
	auto := 1          // go-ini names a key "-" "#1", "#2"… in each section
	for pos < len(data) {
		start, startN := pos, n
		raw, next := physical(data, pos)
		pos, n = next, n+1
		t := bytes.TrimLeftFunc(raw, unicode.IsSpace)
		l := line{start: start}
		switch {
		case len(t) == 0:
			l.kind = lineBlank
		case t[0] == '#' || t[0] == ';':
			l.kind = lineComment
		case t[0] == '[':
			closeIdx := bytes.LastIndexByte(t, ']')
			if closeIdx == -1 {
				return nil, fmt.Errorf("%w: line %d: unclosed section %s", ErrSyntax, startN, show(t))
			}
			name := string(t[1:closeIdx])
			if name == "" {
				return nil, fmt.Errorf("%w: line %d: empty section name", ErrSyntax, startN)
			}
			l.kind = lineSection
			auto = 1
			f.occ[len(f.occ)-1].end = len(f.lines)
			f.occ = append(f.occ, occurrence{name: name, header: len(f.lines)})
		default:
			key, offset, err := readKeyName(string(t))
			if err == nil && key == "" {
				err = fmt.Errorf("empty key name in %s", show(t))
			}
			if key == "-" {
				key = fmt.Sprintf("#%d", auto)
				auto++
			}
			if err != nil {
				return nil, fmt.Errorf("%w: line %d: %w", ErrSyntax, startN, err)
			}
			value, more, err := readValue(data, string(t[offset:]), pos)
			if err != nil {
				return nil, fmt.Errorf("%w: line %d: %w", ErrSyntax, startN, err)
			}
			for p := pos; p < more; p++ { // lines taken by the value
				if data[p] == '\n' {
					n++
				}
			}
			pos = more
			l.kind, l.key, l.value = lineKey, key, value
		}
		l.end = pos
		f.lines = append(f.lines, l)
	}
	f.occ[len(f.occ)-1].end = len(f.lines)
	return f, nil
}

// physical returns the line at pos (newline included) and where the next
// one starts.
func physical(data []byte, pos int) ([]byte, int) {
	if i := bytes.IndexByte(data[pos:], '\n'); i >= 0 {
		return data[pos : pos+i+1], pos + i + 1
	}
	return data[pos:], len(data)
}

// show quotes a line for an error message, shortened.
func show(b []byte) string {
	s := strings.TrimRight(string(b), "\r\n")
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// readKeyName is go-ini's: the key ends at the first '=' or ':' (a key in
// quotes or backticks may hold them); an empty key is an error.
func readKeyName(l string) (string, int, error) {
	var q string
	switch {
	case len(l) > 6 && l[0:3] == `"""`:
		q = `"""`
	case l[0] == '"':
		q = `"`
	case l[0] == '`':
		q = "`"
	}
	if q != "" {
		pos := strings.Index(l[len(q):], q)
		if pos == -1 {
			return "", -1, fmt.Errorf("missing closing key quote in %s", show([]byte(l)))
		}
		pos += len(q)
		i := strings.IndexAny(l[pos+len(q):], "=:")
		if i < 0 {
			return "", -1, fmt.Errorf("no '=' or ':' after the key in %s", show([]byte(l)))
		}
		return strings.TrimSpace(l[len(q):pos]), pos + i + len(q) + 1, nil
	}
	end := strings.IndexAny(l, "=:")
	switch {
	case end < 0:
		return "", -1, fmt.Errorf("%s is neither a [section], a key = value nor a comment", show([]byte(l)))
	case end == 0:
		return "", -1, fmt.Errorf("empty key name in %s", show([]byte(l)))
	}
	return strings.TrimSpace(l[:end]), end + 1, nil
}

// readValue is go-ini's with the SDK's options: in is the rest of the key's
// line; next is where the line after it starts. It returns the value and
// where the line after the value starts.
func readValue(data []byte, in string, next int) (string, int, error) {
	l := strings.TrimLeftFunc(in, unicode.IsSpace)
	if l == "" {
		return "", next, nil
	}
	var q string
	switch {
	case len(l) > 3 && l[0:3] == `"""`:
		q = `"""`
	case l[0] == '`':
		q = "`"
	}
	if q != "" {
		if pos := strings.LastIndex(l[len(q):], q); pos >= 0 {
			return l[len(q) : len(q)+pos], next, nil
		}
		var val strings.Builder
		val.WriteString(l[len(q):])
		for {
			if next >= len(data) {
				return "", 0, fmt.Errorf("missing closing %s of the value", q)
			}
			raw, after := physical(data, next)
			s := string(raw)
			next = after
			if pos := strings.LastIndex(s, q); pos > -1 {
				return val.String() + s[:pos], next, nil
			}
			val.WriteString(s)
			if next >= len(data) {
				return "", 0, fmt.Errorf("missing closing %s of the value", q)
			}
		}
	}
	l = strings.TrimSpace(l)
	if l[len(l)-1] == '\\' { // continued on the next lines
		var val strings.Builder
		val.WriteString(l[:len(l)-1])
		for next < len(data) {
			raw, after := physical(data, next)
			s := strings.TrimSpace(string(raw))
			if s == "" {
				break
			}
			next = after
			if !strings.HasSuffix(s, "\\") {
				val.WriteString(s)
				break
			}
			val.WriteString(s[:len(s)-1])
		}
		return val.String(), next, nil
	}
	i := strings.Index(l, " #")
	if i == -1 {
		i = strings.Index(l, " ;")
	}
	if i > -1 {
		l = strings.TrimSpace(l[:i])
	}
	if surrounded(l, '\'') || surrounded(l, '"') {
		l = l[1 : len(l)-1]
	}
	return l, next, nil
}

func surrounded(s string, q byte) bool {
	return len(s) >= 2 && s[0] == q && s[len(s)-1] == q && strings.IndexByte(s[1:], q) == len(s)-2
}

// Sections lists the sections that hold keys, in order of first
// appearance, DEFAULT first when it holds any.
func (f *File) Sections() []string {
	var names []string
	for _, o := range f.occ {
		if !slices.Contains(names, o.name) && len(f.keys(o)) > 0 {
			names = append(names, o.name)
		}
	}
	return names
}

// keys returns the key lines of an occurrence.
func (f *File) keys(o occurrence) []int {
	var idx []int
	for i := o.header + 1; i < o.end; i++ {
		if f.lines[i].kind == lineKey {
			idx = append(idx, i)
		}
	}
	return idx
}

// Section returns the keys of a section as the SDKs see them (the last
// value of a key wins, occurrences merged), and whether it has any.
func (f *File) Section(name string) (map[string]string, bool) {
	m := map[string]string{}
	for _, o := range f.occ {
		if o.name != name {
			continue
		}
		for _, i := range f.keys(o) {
			m[f.lines[i].key] = f.lines[i].value
		}
	}
	return m, len(m) > 0
}

// occurrences returns the indexes in f.occ of the headers of name.
func (f *File) occurrences(name string) []int {
	var idx []int
	for i, o := range f.occ {
		if o.name == name && o.header >= 0 {
			idx = append(idx, i)
		}
	}
	return idx
}

// Bytes is the file's content.
func (f *File) Bytes() []byte { return f.data }

// ErrDuplicate is returned for an edit of a section that the file names
// more than once: the SDKs merge them, and where to edit is anybody's guess.
var ErrDuplicate = errors.New("section appears more than once")

// lineOf is the 1-based line number of byte offset off.
func (f *File) lineOf(off int) int { return bytes.Count(f.data[:off], []byte{'\n'}) + 1 }

// Set writes keys into section name, creating it at the end of the file if
// it does not exist: a key it has is replaced where it stands (a key given
// twice in the section keeps its first place), a new one goes after its
// last key; comment, if not empty, is the section's first line (a line
// starting with the same first word is replaced). Every other line stays as
// it was. It returns a new File.
func (f *File) Set(name string, keys []KV, comment string) (*File, error) {
	nf, err := f.set(name, keys, comment)
	if err != nil {
		return nil, err
	}
	if err := f.sameBut(nf, name); err != nil {
		return nil, err
	}
	got, _ := nf.Section(name)
	for _, kv := range keys {
		if got[kv.Key] != kv.Value {
			return nil, fmt.Errorf("%w: [%s] %s would not read back as written", ErrCannotEdit, name, kv.Key)
		}
	}
	return nf, nil
}

// ErrCannotEdit is returned when an edit would change what the file means
// outside the section edited (a last line without a newline that a new
// line after it would continue, say): nothing is changed then.
var ErrCannotEdit = errors.New("cannot edit the file without changing other profiles")

// sameBut checks that nf reads as f does, but for section name.
func (f *File) sameBut(nf *File, name string) error {
	a, b := f.all(), nf.all()
	delete(a, name)
	delete(b, name)
	for s := range b {
		if _, ok := a[s]; !ok {
			a[s] = nil
		}
	}
	for s, kv := range a {
		if !maps.Equal(kv, b[s]) {
			return fmt.Errorf("%w: [%s] would change (is the file's last line complete?); nothing was changed", ErrCannotEdit, s)
		}
	}
	return nil
}

// all is every section with keys, as Section reads it.
func (f *File) all() map[string]map[string]string {
	m := map[string]map[string]string{}
	for _, o := range f.occ {
		for _, i := range f.keys(o) {
			if m[o.name] == nil {
				m[o.name] = map[string]string{}
			}
			m[o.name][f.lines[i].key] = f.lines[i].value
		}
	}
	return m
}

func (f *File) set(name string, keys []KV, comment string) (*File, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	for _, kv := range keys {
		if err := checkKV(kv); err != nil {
			return nil, err
		}
	}
	if comment != "" && (strings.ContainsAny(comment, "\r\n") || comment[0] != ';' && comment[0] != '#') {
		return nil, fmt.Errorf("comment %q: one line starting with ; or #", comment)
	}
	occ := f.occurrences(name)
	if len(occ) > 1 {
		return nil, fmt.Errorf("[%s] %w (lines %d and %d): merge them into one, then run this again", name, ErrDuplicate, f.lineOf(f.lines[f.occ[occ[0]].header].start), f.lineOf(f.lines[f.occ[occ[1]].header].start))
	}
	var b bytes.Buffer
	if len(occ) == 0 {
		b.Write(f.data)
		if b.Len() > f.bom && !bytes.HasSuffix(b.Bytes(), []byte("\n")) {
			b.WriteString(f.nl)
		}
		if b.Len() > f.bom && !bytes.HasSuffix(b.Bytes(), []byte("\n\n")) && !bytes.HasSuffix(b.Bytes(), []byte("\n\r\n")) {
			b.WriteString(f.nl)
		}
		b.WriteString("[" + name + "]" + f.nl)
		if comment != "" {
			b.WriteString(comment + f.nl)
		}
		for _, kv := range keys {
			b.WriteString(kv.Key + " = " + kv.Value + f.nl)
		}
		return f.reparse(b.Bytes())
	}
	o := f.occ[occ[0]]
	type edit struct {
		at, end int // bytes replaced
		with    string
	}
	var edits []edit
	nlOf := func(l line) string {
		if bytes.HasSuffix(f.data[l.start:l.end], []byte("\r\n")) {
			return "\r\n"
		}
		return "\n"
	}
	lastKey, marker := -1, -1
	done := map[string]bool{}
	for i := o.header + 1; i < o.end; i++ {
		l := f.lines[i]
		switch l.kind {
		case lineComment:
			if comment != "" && marker < 0 && firstWord(strings.TrimSpace(string(f.data[l.start:l.end]))) == firstWord(comment) {
				marker = i
				edits = append(edits, edit{l.start, l.end, comment + nlOf(l)})
			}
		case lineKey:
			lastKey = i
			j := slices.IndexFunc(keys, func(kv KV) bool { return kv.Key == l.key })
			if j < 0 {
				continue
			}
			if done[l.key] { // a repeated key: its first place holds the value
				edits = append(edits, edit{l.start, l.end, ""})
				continue
			}
			done[l.key] = true
			nl := nlOf(l)
			if l.end == len(f.data) && !bytes.HasSuffix(f.data, []byte("\n")) {
				nl = ""
			}
			edits = append(edits, edit{l.start, l.end, keys[j].Key + " = " + keys[j].Value + nl})
		}
	}
	var add strings.Builder
	for _, kv := range keys {
		if !done[kv.Key] {
			add.WriteString(kv.Key + " = " + kv.Value + f.nl)
		}
	}
	header := f.lines[o.header]
	if comment != "" && marker < 0 {
		edits = append(edits, edit{header.end, header.end, comment + f.nl})
	}
	if add.Len() > 0 {
		after := header
		if lastKey >= 0 {
			after = f.lines[lastKey]
		}
		s := add.String()
		if after.end == len(f.data) && !bytes.HasSuffix(f.data, []byte("\n")) {
			s = f.nl + strings.TrimSuffix(s, f.nl)
		}
		edits = append(edits, edit{after.end, after.end, s})
	}
	slices.SortStableFunc(edits, func(a, b edit) int { return a.at - b.at })
	prev := 0
	for _, e := range edits {
		b.Write(f.data[prev:e.at])
		b.WriteString(e.with)
		prev = e.end
	}
	b.Write(f.data[prev:])
	return f.reparse(b.Bytes())
}

// reparse parses an edit of f; an edit that does not parse is ErrCannotEdit.
func (f *File) reparse(data []byte) (*File, error) {
	nf, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCannotEdit, err)
	}
	return nf, nil
}

func firstWord(s string) string {
	s = strings.TrimLeft(s, ";# ")
	w, _, _ := strings.Cut(s, " ")
	return w
}

// Remove deletes section name: its header, keys and the comments among
// them, and the blank lines after them; comments after its last key that
// lead into the next section stay with it. At the end of the file, the
// blank line before it goes too. It reports whether there was such a
// section.
func (f *File) Remove(name string) (*File, bool, error) {
	occ := f.occurrences(name)
	switch {
	case len(occ) == 0:
		return f, false, nil
	case len(occ) > 1:
		return nil, false, fmt.Errorf("[%s] %w (lines %d and %d): remove it yourself", name, ErrDuplicate, f.lineOf(f.lines[f.occ[occ[0]].header].start), f.lineOf(f.lines[f.occ[occ[1]].header].start))
	}
	o := f.occ[occ[0]]
	end := o.end // lines [header, end) go
	if end < len(f.lines) {
		// Before another section: what follows its last key, after the
		// blank lines, leads into that section and stays.
		end = o.header + 1
		for i := o.header + 1; i < o.end; i++ {
			if f.lines[i].kind == lineKey {
				end = i + 1
			}
		}
		for end < o.end && f.lines[end].kind == lineBlank {
			end++
		}
	}
	from, to := f.lines[o.header].start, len(f.data)
	if end < len(f.lines) {
		to = f.lines[end].start
	} else if o.header > 0 && f.lines[o.header-1].kind == lineBlank {
		from = f.lines[o.header-1].start // the blank line that set it apart
	}
	var b bytes.Buffer
	b.Write(f.data[:from])
	b.Write(f.data[to:])
	nf, err := f.reparse(b.Bytes())
	if err == nil {
		err = f.sameBut(nf, name)
	}
	if err == nil {
		if _, still := nf.Section(name); still {
			err = fmt.Errorf("%w: [%s] would remain", ErrCannotEdit, name)
		}
	}
	if err != nil {
		return nil, false, err
	}
	return nf, true, nil
}

// checkName accepts a section name that every SDK reads back the same.
func checkName(name string) error {
	switch {
	case name == "" || len(name) > 128:
		return fmt.Errorf("profile name %q: 1 to 128 characters", name)
	case name == SettingsSection:
		return fmt.Errorf("%s is reserved by the Databricks CLI: choose another profile name", SettingsSection)
	case strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == ']' || r == '[' || r == 0x7f || r == '#' || r == ';' }):
		return fmt.Errorf("profile name %q: no spaces, brackets, '#', ';' or control characters", name)
	}
	return nil
}

// checkKV accepts a key and value that read back as written.
func checkKV(kv KV) error {
	bad := func(r rune) bool { return r < ' ' || r == 0x7f }
	switch {
	case kv.Key == "" || strings.ContainsAny(kv.Key, "=:\"`#;[ ") || strings.ContainsFunc(kv.Key, bad):
		return fmt.Errorf("key %q cannot be written", kv.Key)
	case strings.ContainsFunc(kv.Value, bad) || strings.Contains(kv.Value, " #") || strings.Contains(kv.Value, " ;") ||
		strings.HasSuffix(kv.Value, `\`) || strings.HasPrefix(kv.Value, "`") || strings.HasPrefix(kv.Value, `"`) ||
		strings.HasPrefix(kv.Value, "'") || kv.Value != strings.TrimSpace(kv.Value):
		return fmt.Errorf("value of %s cannot be written as is", kv.Key)
	}
	return nil
}
