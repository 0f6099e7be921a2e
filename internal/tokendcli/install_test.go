package tokendcli

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestSystemdUnitVerifies: the unit `tokend install` writes passes
// systemd-analyze verify, even with a space in the path.
func TestSystemdUnitVerifies(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must install the systemd package for systemd-analyze")
		}
		t.Skip("systemd-analyze not installed (apt-get install systemd)")
	}
	dir := filepath.Join(t.TempDir(), "my tools")
	os.MkdirAll(dir, 0o755)
	exe := filepath.Join(dir, "tokend")
	os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755)
	data, err := render("tokend.service", exe, filepath.Join(dir, "config.toml"), "")
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), "tokend.service")
	os.WriteFile(unit, data, 0o644)
	out, err := exec.Command("systemd-analyze", "verify", unit).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s\n%s", err, out, data)
	}
	// And it does catch a broken unit, so the check above means something.
	os.WriteFile(unit, bytes.ReplaceAll(data, []byte(exe), []byte("/nonexistent/tokend")), 0o644)
	if err := exec.Command("systemd-analyze", "verify", unit).Run(); err == nil {
		t.Fatal("systemd-analyze accepted a unit whose program does not exist")
	}
}

func TestLaunchdPlist(t *testing.T) {
	data, err := render("dev.tokend.plist", "/Applications/To & Kend/tokend", "/Users/a/c.toml", "/Users/a/Library/Logs/tokend.log")
	if err != nil {
		t.Fatal(err)
	}
	var plist struct {
		Dict struct {
			Keys    []string `xml:"key"`
			Strings []string `xml:"string"`
			Array   struct {
				Strings []string `xml:"string"`
			} `xml:"array"`
		} `xml:"dict"`
	}
	if err := xml.Unmarshal(data, &plist); err != nil {
		t.Fatalf("plist is not XML: %v\n%s", err, data)
	}
	got := strings.Join(plist.Dict.Array.Strings, "|")
	if got != "/Applications/To & Kend/tokend|serve|--config|/Users/a/c.toml" {
		t.Fatalf("ProgramArguments = %q", got)
	}
	if plist.Dict.Strings[0] != "dev.tokend" {
		t.Fatalf("Label = %q", plist.Dict.Strings[0])
	}
}

func TestInstallWritesUnit(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the unit file is the Linux service")
	}
	xdg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", xdg)
	var stdout, stderr bytes.Buffer
	if code := Run(context.Background(), []string{"install", "--no-start", "--config", "c.toml"}, &stdout, &stderr); code != 0 {
		t.Fatal(stderr.String())
	}
	unitPath := filepath.Join(xdg, "systemd", "user", "tokend.service")
	unit, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if !strings.Contains(string(unit), " serve --config "+`"`+filepath.Join(wd, "c.toml")+`"`) {
		t.Fatalf("unit:\n%s", unit)
	}
	stdout.Reset()
	if code := Run(context.Background(), []string{"install", "--print"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "ExecStart=") {
		t.Fatalf("--print: %d %q", code, stdout.String())
	}
	// uninstall stops the service, then removes the file; where stopping
	// fails (here: a systemctl that fails), the file stays, and the
	// message says how to stop it.
	bin := t.TempDir()
	os.WriteFile(filepath.Join(bin, "systemctl"), []byte("#!/bin/sh\necho 'Failed to connect to bus' >&2\nexit 1\n"), 0o755)
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	stderr.Reset()
	if code := Run(context.Background(), []string{"uninstall"}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "could not stop the service, so its file stays at "+unitPath+"; stop it with: systemctl --user disable --now tokend.service") {
		t.Fatalf("uninstall with a failing systemctl: exit %d, %s", code, stderr.String())
	}
	if _, err := os.Stat(unitPath); err != nil {
		t.Fatalf("the unit went although the service was not stopped: %v", err)
	}
	os.WriteFile(filepath.Join(bin, "systemctl"), []byte("#!/bin/sh\nexit 0\n"), 0o755)
	stderr.Reset()
	if code := Run(context.Background(), []string{"uninstall"}, &stdout, &stderr); code != 0 || !strings.Contains(stderr.String(), "removed "+unitPath) {
		t.Fatalf("uninstall: exit %d, %s", code, stderr.String())
	}
	if _, err := os.Stat(unitPath); err == nil {
		t.Fatal("unit still there after uninstall")
	}
}

func TestNotifyRunsNotifier(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("notify-send is the Linux notifier")
	}
	dir := t.TempDir()
	rec := filepath.Join(dir, "args")
	os.WriteFile(filepath.Join(dir, "notify-send"), []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" > "+rec+"\n"), 0o755)
	t.Setenv("PATH", dir)
	log, _ := newLogger(io.Discard, "text", "info")
	notify(log, "tokend: dbx needs a new sign-in", "Run: token login dbx")
	got, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "--app-name=tokend\ntokend: dbx needs a new sign-in\nRun: token login dbx\n" {
		t.Fatalf("notify-send got %q", got)
	}
}

func TestLogFlags(t *testing.T) {
	var b bytes.Buffer
	log, err := newLogger(&b, "json", "warn")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown", "profile", "dbx")
	if strings.Contains(b.String(), "hidden") || !strings.Contains(b.String(), `"profile":"dbx"`) {
		t.Fatalf("log = %s", b.String())
	}
	for _, bad := range [][2]string{{"xml", "info"}, {"text", "loud"}} {
		if _, err := newLogger(&b, bad[0], bad[1]); err == nil {
			t.Errorf("newLogger(%q, %q) accepted", bad[0], bad[1])
		}
	}
}

// TestLaunchdReinstall: on macOS, install boots an agent loaded before out
// first (bootstrap fails on a loaded one), and uninstall boots it out.
func TestLaunchdReinstall(t *testing.T) {
	svc, err := userServiceOf("darwin")
	if err != nil {
		t.Fatal(err)
	}
	domain := fmt.Sprintf("gui/%d", os.Getuid())
	if got := strings.Join(svc.before, " "); got != "launchctl bootout "+domain+" "+svc.path {
		t.Errorf("before enable: %q", got)
	}
	if got := joinCmds(svc.enable); got != "launchctl bootstrap "+domain+" "+svc.path {
		t.Errorf("enable: %q", got)
	}
	if got := joinCmds(svc.disable); got != "launchctl bootout "+domain+" "+svc.path {
		t.Errorf("disable: %q", got)
	}
	if _, err := userServiceOf("plan9"); err == nil || !strings.Contains(err.Error(), "not plan9") {
		t.Errorf("plan9: %v", err)
	}
}
