package tokendcli

import (
	"testing"

	"golang.org/x/sys/windows"
)

// TestWinQuoteWindows: Windows itself (CommandLineToArgvW) splits the
// task's arguments back into what winQuote quoted, as splitWinArgs does.
func TestWinQuoteWindows(t *testing.T) {
	for _, s := range []string{
		"serve", `C:\Program Files\x.toml`, `C:\dir\`, `C:\dir with space\`, `a"b`, `a\"b`, `a\\"b c`, "tab\there",
	} {
		line := `tokend.exe ` + winQuote(s)
		args, err := windows.DecomposeCommandLine(line)
		if err != nil {
			t.Fatal(err)
		}
		if len(args) != 2 || args[1] != s {
			t.Errorf("%s splits into %q, want %q", line, args, s)
		}
		if got := splitWinArgs(winQuote(s)); len(got) != 1 || got[0] != s {
			t.Errorf("splitWinArgs disagrees with Windows on %s: %q", winQuote(s), got)
		}
	}
}
