package tokendcli

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf16"
)

// logonTask is tokend's user service on Windows: a Task Scheduler task
// that starts `tokend serve` when the user signs in, as the user, with
// the least privilege (no administrator is needed to register it). Its
// name carries the user's SID, since task names are machine-wide. The
// filled-in definition stays in %LOCALAPPDATA%\tokend for the record
// (and for uninstall to know it is installed); the log goes next to it.
func logonTask() (*service, error) {
	sid, err := userSID()
	if err != nil {
		return nil, err
	}
	local, err := os.UserCacheDir() // %LOCALAPPDATA%
	if err != nil {
		return nil, err
	}
	name := "tokend-" + sid
	path := filepath.Join(local, "tokend", "tokend-task.xml")
	return &service{
		template: "tokend-task.xml",
		path:     path,
		enable:   [][]string{{"schtasks", "/Create", "/TN", name, "/XML", path, "/F"}, {"schtasks", "/Run", "/TN", name}},
		stop:     []string{"schtasks", "/End", "/TN", name},
		disable:  [][]string{{"schtasks", "/Delete", "/TN", name, "/F"}},
		user:     sid,
		task:     name,
		utf16:    true,
	}, nil
}

// winQuote quotes one argument of a Windows command line as
// CommandLineToArgvW (and Go's os.Args) splits it back: in double quotes
// when it has a space, a tab or a quote, with the backslashes before a
// quote doubled (syscall.EscapeArg, which only Windows builds have).
func winQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"") {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	slashes := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			slashes++
		case '"':
			b.WriteString(strings.Repeat(`\`, slashes+1))
			slashes = 0
		default:
			slashes = 0
		}
		b.WriteByte(c)
	}
	b.WriteString(strings.Repeat(`\`, slashes))
	b.WriteByte('"')
	return b.String()
}

// utf16LE is text as UTF-16 little-endian with a byte order mark, the
// encoding the task's XML declares.
func utf16LE(text []byte) []byte {
	u := utf16.Encode([]rune(string(bytes.TrimPrefix(text, []byte("\ufeff")))))
	b := make([]byte, 2, 2+2*len(u))
	b[0], b[1] = 0xff, 0xfe
	for _, c := range u {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return b
}
