// Package quote renders untrusted input inside messages: a value read from
// a config file or a request is echoed with its control characters escaped
// (so it cannot move the cursor, recolour or rewrite a terminal) and cut to
// a length a person can read (so a 50 MB value does not come back whole).
//
// It depends on nothing beyond the standard library's strings and strconv,
// so that the thin client links it for free.
package quote

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxValue is how many bytes of a value String shows.
const MaxValue = 96

// MaxLine is how many bytes of a message Line keeps.
const MaxLine = 4 << 10

// String is s in Go double-quoted syntax (as %q prints it: control and
// non-printable characters escaped), cut after MaxValue bytes with the
// full length said: "aaaa…" (50000000 bytes).
func String(s string) string {
	if len(s) <= MaxValue {
		return strconv.Quote(s)
	}
	return strconv.Quote(cut(s, MaxValue)+"…") + " (" + strconv.Itoa(len(s)) + " bytes)"
}

// Strings is String of each element, in brackets.
func Strings(ss []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range ss {
		if i == 8 && len(ss) > 9 {
			b.WriteString(" … " + strconv.Itoa(len(ss)-8) + " more")
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(String(s))
	}
	b.WriteByte(']')
	return b.String()
}

// Line makes a message safe to print on a terminal: newlines and tabs are
// kept (CRLF becomes LF), other control and non-printable characters (and invalid UTF-8) are
// escaped as in Go string literals, and the message is cut after MaxLine
// bytes. A message that needs none of this is returned as it is.
func Line(s string) string {
	if clean(s) && len(s) <= MaxLine {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		if b.Len() >= MaxLine {
			b.WriteString("… (" + strconv.Itoa(len(s)-i) + " more bytes)")
			break
		}
		switch {
		case r == '\r' && strings.HasPrefix(s[i+1:], "\n"): // CRLF: the LF will do
		case r == utf8.RuneError && isInvalid(s[i:]):
			b.WriteString(`\x` + strconv.FormatUint(uint64(s[i]), 16))
		case keep(r):
			b.WriteRune(r)
		default:
			q := strconv.QuoteRune(r) // '\x1b', '\u202e'
			b.WriteString(q[1 : len(q)-1])
		}
	}
	return b.String()
}

func keep(r rune) bool { return r == '\n' || r == '\t' || unicode.IsPrint(r) }

func clean(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\n' && c != '\t' || c >= 0x7f {
			return cleanSlow(s)
		}
	}
	return true
}

// cleanSlow checks a string that has bytes outside printable ASCII.
func cleanSlow(s string) bool {
	for i, r := range s {
		if r == utf8.RuneError && isInvalid(s[i:]) || !keep(r) {
			return false
		}
	}
	return true
}

func isInvalid(s string) bool {
	r, n := utf8.DecodeRuneInString(s)
	return r == utf8.RuneError && n <= 1
}

// cut returns at most n bytes of s, not splitting a UTF-8 sequence.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
