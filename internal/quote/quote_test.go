package quote

import (
	"strings"
	"testing"
	"unicode"
)

func TestString(t *testing.T) {
	for in, want := range map[string]string{
		"dbx":                     `"dbx"`,
		"a\x1b[31mred":            `"a\x1b[31mred"`,
		"rlo\u202etxt":            `"rlo\u202etxt"`,
		"é":                       `"é"`,
		strings.Repeat("a", 97):   `"` + strings.Repeat("a", 96) + `…" (97 bytes)`,
		strings.Repeat("é", 1000): `"` + strings.Repeat("é", 48) + `…" (2000 bytes)`,
	} {
		if got := String(in); got != want {
			t.Errorf("String(%.20q) = %s, want %s", in, got, want)
		}
	}
	big := String(strings.Repeat("x", 50<<20))
	if len(big) > MaxValue+40 || !strings.Contains(big, "(52428800 bytes)") {
		t.Errorf("50 MB value: %d bytes: %.200s", len(big), big)
	}
}

func TestStrings(t *testing.T) {
	if got := Strings([]string{"a", "b\n"}); got != `["a" "b\n"]` {
		t.Errorf("Strings = %s", got)
	}
	many := make([]string, 1000)
	if got := Strings(many); strings.Count(got, `""`) != 8 || !strings.Contains(got, "992 more") {
		t.Errorf("Strings of 1000: %s", got)
	}
}

func TestLine(t *testing.T) {
	for in, want := range map[string]string{
		"plain message\nnext: do this\t.":  "plain message\nnext: do this\t.",
		"bell\a and escape \x1b]0;title\a": `bell\a and escape \x1b]0;title\a`,
		"carriage\rreturn":                 `carriage\rreturn`,
		"AADSTS1: no\r\nTrace ID: 1":       "AADSTS1: no\nTrace ID: 1",
		"bidi \u202e override":             `bidi \u202e override`,
		"bad utf-8 \xff here":              `bad utf-8 \xff here`,
		"ünïcödé ok":                       "ünïcödé ok",
		"del \x7f":                         `del \x7f`,
		"c1 \u009b":                        `c1 \u009b`,
	} {
		if got := Line(in); got != want {
			t.Errorf("Line(%q) = %q, want %q", in, got, want)
		}
	}
	long := Line(strings.Repeat("y", 1<<20))
	if len(long) > MaxLine+40 || !strings.HasSuffix(long, "more bytes)") {
		t.Errorf("1 MiB line: %d bytes, ends %q", len(long), long[len(long)-30:])
	}
}

// FuzzLine: whatever goes in, nothing but printable characters, newlines
// and tabs comes out, and never much more than MaxLine bytes.
func FuzzLine(f *testing.F) {
	f.Add("a\x1b[2Jb\xff\u202e")
	f.Fuzz(func(t *testing.T, s string) {
		out := Line(s)
		for _, r := range out {
			if !keep(r) {
				t.Fatalf("Line(%q) = %q keeps %U", s, out, r)
			}
			if r == unicode.ReplacementChar && !strings.ContainsRune(s, r) {
				t.Fatalf("Line(%q) = %q has U+FFFD", s, out)
			}
		}
		if len(out) > MaxLine+64 {
			t.Fatalf("Line of %d bytes is %d bytes", len(s), len(out))
		}
		if q := String(s); len(q) > 6*MaxValue+40 {
			t.Fatalf("String of %d bytes is %d bytes", len(s), len(q))
		}
	})
}
