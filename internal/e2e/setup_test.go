package e2e

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/tokend/tokend/internal/peercred"
)

// Script commands and conditions for the scripts that start from a fresh
// HOME (testdata/login/setup.txtar), where `token setup` starts tokend.

// emuenv sets $EMULATOR (https://127.0.0.1:PORT, also the fake Azure
// Databricks workspace), $AUTHORITY, $TENANT and $CA_FILE of the running
// emulator.
func emuEnv(ts *testscript.TestScript, neg bool, args []string) {
	fx, _ := emulatorFixture(ts)
	ts.Setenv("EMULATOR", emulatorURL(fx))
	ts.Setenv("AUTHORITY", fx.Authority)
	ts.Setenv("TENANT", fx.TenantID)
	ts.Setenv("CA_FILE", fx.CAFile)
}

// stopdaemon SOCKET stops the tokend listening at SOCKET (SIGTERM to the
// process the kernel says serves it) and waits until it has exited.
func stopDaemon(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: stopdaemon SOCKET")
	}
	if err := stopDaemonAt(args[0]); err != nil {
		ts.Fatalf("stopdaemon: %v", err)
	}
}

func stopDaemonAt(sock string) error {
	c, err := net.Dial("unix", sock)
	if err != nil {
		return err
	}
	cred, err := peercred.Get(c)
	c.Close()
	if err != nil {
		return err
	}
	p, err := os.FindProcess(cred.PID)
	if err != nil {
		return err
	}
	if err := p.Signal(sigterm); err != nil {
		return err
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if p.Signal(zeroSignal) != nil || zombie(cred.PID) { // gone
			return nil
		}
	}
	return fmt.Errorf("tokend (pid %d) still runs 30s after SIGTERM", cred.PID)
}

// zombie says whether pid has exited and waits to be reaped: a daemon that
// `token setup` started in the background belongs to PID 1 once its parent
// is gone, and a container's PID 1 may never reap it.
func zombie(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)) // Linux only; elsewhere no
	if err != nil {
		return false
	}
	// pid (comm) state ...: comm may hold anything, even ')'.
	i := strings.LastIndexByte(string(stat), ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// mode FILE OCTAL checks FILE's permission bits.
func checkMode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: mode FILE OCTAL")
	}
	want, err := strconv.ParseUint(args[1], 8, 32)
	if err != nil {
		ts.Fatalf("mode: %v", err)
	}
	fi, err := os.Stat(ts.MkAbs(args[0]))
	if err != nil {
		ts.Fatalf("mode: %v", err)
	}
	if got := fi.Mode().Perm(); (uint64(got) == want) == neg {
		ts.Fatalf("%s has mode %#o, want %s%#o", args[0], got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

// hasprefix FILE PREFIXFILE checks that FILE starts with the bytes of
// PREFIXFILE, all of them.
func hasPrefix(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: hasprefix FILE PREFIXFILE")
	}
	if strings.HasPrefix(ts.ReadFile(args[0]), ts.ReadFile(args[1])) == neg {
		ts.Fatalf("%s does not start with %s", args[0], args[1])
	}
}

// secretService is the condition [secretservice]: a Secret Service to keep
// sign-ins in (scripts/with-keyring.sh, which make test uses, provides one
// and says so in TOKEND_SECRET_SERVICE). CI must have it.
func secretService(cond string) (bool, error) {
	if cond != "secretservice" {
		return false, fmt.Errorf("unknown condition %q", cond)
	}
	if os.Getenv("TOKEND_SECRET_SERVICE") == "1" {
		return true, nil
	}
	if os.Getenv("CI") != "" {
		return false, errors.New("CI must run these tests with a Secret Service: through scripts/with-keyring.sh (make test does)")
	}
	return false, nil
}

// stopStrayDaemon stops a tokend that a script's `token setup` started in
// the background at the default socket under sockDir, if the script did
// not.
func stopStrayDaemon(sockDir string) {
	sock := filepath.Join(sockDir, "tokend", "tokend.sock")
	if _, err := os.Stat(sock); err == nil {
		stopDaemonAt(sock)
	}
}

// TestZombie: stopdaemon counts an exited, unreaped daemon as gone.
func TestZombie(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc/PID/stat is Linux's")
	}
	cmd := exec.Command("sh", "-c", "exit 0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if zombie(os.Getpid()) {
		t.Fatal("the test itself is a zombie")
	}
	deadline := time.Now().Add(30 * time.Second)
	for !zombie(cmd.Process.Pid) {
		if time.Now().After(deadline) {
			t.Fatal("an exited child never showed as a zombie")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Wait()
	if zombie(cmd.Process.Pid) {
		t.Fatal("a reaped child is a zombie")
	}
}
