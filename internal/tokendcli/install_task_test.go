package tokendcli

import (
	"bytes"
	"encoding/binary"
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"unicode/utf16"
)

// TestTaskDefinition: the logon task runs tokend serve as the user who
// installs it, at that user's sign-in, without elevation, with no time
// limit, restarting it on failure; paths with spaces survive as single
// arguments.
func TestTaskDefinition(t *testing.T) {
	const sid = "S-1-5-21-1111-2222-3333-1001"
	data, err := renderData("tokend-task.xml", serviceData{
		Executable: `C:\Program Files\tokend & co\tokend.exe`,
		Config:     `C:\Users\A B\tokend\config.toml`,
		LogFile:    `C:\Users\A B\AppData\Local\tokend\tokend.log`,
		User:       sid,
		Task:       "tokend-" + sid,
	})
	if err != nil {
		t.Fatal(err)
	}
	var task struct {
		URI      string `xml:"RegistrationInfo>URI"`
		Triggers struct {
			Logon []struct {
				Enabled bool   `xml:"Enabled"`
				UserID  string `xml:"UserId"`
			} `xml:"LogonTrigger"`
			Other []xml.Name `xml:",any"`
		} `xml:"Triggers"`
		Principal struct {
			UserID    string `xml:"UserId"`
			LogonType string `xml:"LogonType"`
			RunLevel  string `xml:"RunLevel"`
		} `xml:"Principals>Principal"`
		Settings struct {
			Instances   string `xml:"MultipleInstancesPolicy"`
			TimeLimit   string `xml:"ExecutionTimeLimit"`
			Batteries   bool   `xml:"DisallowStartIfOnBatteries"`
			StopBattery bool   `xml:"StopIfGoingOnBatteries"`
			Restart     string `xml:"RestartOnFailure>Interval"`
		} `xml:"Settings"`
		Exec []struct {
			Command   string `xml:"Command"`
			Arguments string `xml:"Arguments"`
		} `xml:"Actions>Exec"`
	}
	// The file declares UTF-16 (what it is written as); read it as such.
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	if err := dec.Decode(&task); err != nil {
		t.Fatalf("not XML: %v\n%s", err, data)
	}
	switch {
	case task.URI != `\tokend-`+sid:
		t.Errorf("URI = %q", task.URI)
	case len(task.Triggers.Logon) != 1 || len(task.Triggers.Other) != 0 || !task.Triggers.Logon[0].Enabled || task.Triggers.Logon[0].UserID != sid:
		t.Errorf("triggers = %+v: want one logon trigger, of this user only", task.Triggers)
	case task.Principal.UserID != sid || task.Principal.LogonType != "InteractiveToken" || task.Principal.RunLevel != "LeastPrivilege":
		t.Errorf("principal = %+v: want the user, interactive, least privilege", task.Principal)
	case task.Settings.TimeLimit != "PT0S" || task.Settings.Batteries || task.Settings.StopBattery || task.Settings.Instances != "IgnoreNew" || task.Settings.Restart == "":
		t.Errorf("settings = %+v", task.Settings)
	case len(task.Exec) != 1:
		t.Fatalf("actions = %+v", task.Exec)
	}
	if got := task.Exec[0].Command; got != `C:\Program Files\tokend & co\tokend.exe` {
		t.Errorf("Command = %q", got)
	}
	want := []string{"serve", "--log-file", `C:\Users\A B\AppData\Local\tokend\tokend.log`, "--config", `C:\Users\A B\tokend\config.toml`}
	if got := splitWinArgs(task.Exec[0].Arguments); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Arguments %q split into %q, want %q", task.Exec[0].Arguments, got, want)
	}
}

// splitWinArgs splits a command line the way CommandLineToArgvW does (for
// the arguments; the program name has other rules).
func splitWinArgs(s string) []string {
	var args []string
	var cur strings.Builder
	inArg, quoted, slashes := false, false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			slashes++
			inArg = true
			continue
		case c == '"':
			cur.WriteString(strings.Repeat(`\`, slashes/2))
			if slashes%2 == 1 {
				cur.WriteByte('"')
			} else {
				quoted = !quoted
			}
			slashes, inArg = 0, true
			continue
		}
		cur.WriteString(strings.Repeat(`\`, slashes))
		slashes = 0
		if (c == ' ' || c == '\t') && !quoted {
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
			continue
		}
		cur.WriteByte(c)
		inArg = true
	}
	cur.WriteString(strings.Repeat(`\`, slashes))
	if inArg {
		args = append(args, cur.String())
	}
	return args
}

func TestWinQuote(t *testing.T) {
	for _, s := range []string{
		"serve", "", `C:\Program Files\x.toml`, `C:\dir\`, `C:\dir with space\`, `a"b`, `a\"b`, `a\\"b c`, "tab\there", `\\server\share\f`,
	} {
		q := winQuote(s)
		if got := splitWinArgs(q); len(got) != 1 || got[0] != s {
			t.Errorf("winQuote(%q) = %s, which splits into %q", s, q, got)
		}
	}
	if q := winQuote("serve"); q != "serve" {
		t.Errorf("winQuote(serve) = %s, want it bare", q)
	}
}

func TestUTF16LE(t *testing.T) {
	b := utf16LE([]byte("<Task>ünï</Task>"))
	if !bytes.HasPrefix(b, []byte{0xff, 0xfe}) || len(b)%2 != 0 {
		t.Fatalf("no BOM or odd length: % x", b[:4])
	}
	u := make([]uint16, (len(b)-2)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2+2*i:])
	}
	if got := string(utf16.Decode(u)); got != "<Task>ünï</Task>" {
		t.Fatalf("decoded %q", got)
	}
}
