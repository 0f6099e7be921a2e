//go:build linux

package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tokend/tokend/entraemu"
)

const otherUserName = "tokend-other"

// otherUser returns the uid and gid of a second OS user, creating it with
// useradd (and removing it afterwards) if it does not exist. It needs
// root; CI runs as root, so there it never skips.
func otherUser(t *testing.T) (uid, gid uint32) {
	t.Helper()
	if os.Getuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run the tests as root: the second-user test needs to create a user and drop privileges")
		}
		t.Skip("a second OS user needs root (CI runs this as root)")
	}
	u, err := user.Lookup(otherUserName)
	var unknown user.UnknownUserError
	if errors.As(err, &unknown) {
		out, aerr := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", otherUserName).CombinedOutput()
		if aerr != nil {
			t.Fatalf("useradd %s: %v\n%s", otherUserName, aerr, out)
		}
		t.Cleanup(func() { exec.Command("userdel", otherUserName).Run() })
		u, err = user.Lookup(otherUserName)
	}
	if err != nil {
		t.Fatal(err)
	}
	id, _ := strconv.ParseUint(u.Uid, 10, 32)
	g, _ := strconv.ParseUint(u.Gid, 10, 32)
	if id == 0 {
		t.Fatalf("%s is root", otherUserName)
	}
	return uint32(id), uint32(g)
}

// TestOtherUser: a second OS user on the machine connects to the owner's
// daemon, through the socket with the real `token` binary and a raw HTTP
// helper, and through TCP with no or forged capabilities. It gets no token
// and a clear refusal: `token`'s own (the socket is not its user's), the
// kernel's (the socket's directory is 0700), and with the directory and
// socket deliberately opened to everyone, the daemon's own peer-credential
// check (403); on TCP the daemon learns the peer's uid from the kernel and
// closes the connection before reading a request.
func TestOtherUser(t *testing.T) {
	uid, gid := otherUser(t)
	m := tcpMachine(t, "")
	m.start()
	m.mustToken(entraemu.ClientSecret+"\n", "login", "app", "--client-secret-stdin")
	ownerToken := strings.TrimSpace(m.mustToken("", "get", "app"))
	capOut := m.mustToken("", "env", "app", "--shell", "sh")
	capID := regexpFind(t, `tokend capability ([0-9a-f]{16})`, capOut)
	envCap := envVars(t, capOut)
	dbxCfg := filepath.Join(t.TempDir(), "databrickscfg")
	m.mustToken("", "databricks", "configure", "app", "--file", dbxCfg)
	st := m.status()
	if st.Listeners.TCP == "" {
		t.Fatal("no TCP listener")
	}
	before := served(st)

	bin := otherBin(t)
	as := func(name string, args ...string) (string, string, int) {
		return runAs(t, uid, gid, filepath.Join(bin, name), []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent", "TOKEND_SOCKET=" + m.sock}, "", args...)
	}
	var seen bytes.Buffer // everything the other user got back
	attempts := func(out string) []attempt {
		t.Helper()
		seen.WriteString(out)
		var as []attempt
		dec := json.NewDecoder(strings.NewReader(out))
		for {
			var a attempt
			if err := dec.Decode(&a); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("peer output: %v\n%s", err, out)
			}
			as = append(as, a)
		}
		if len(as) == 0 {
			t.Fatal("peer made no attempt")
		}
		return as
	}

	// token itself refuses a daemon that is not its user's before sending
	// anything (TestSquattedSocket); the raw helper shows what the daemon
	// does with a client that does not check.
	clientRefusal := fmt.Sprintf("refusing to talk to tokend at %s: unsafe socket location: socket dir %s is owned by uid 0 (root), not by you (uid %d (%s))", m.sock, filepath.Dir(m.sock), uid, otherUserName)
	t.Run("socket closed by its directory", func(t *testing.T) {
		out, errs, code := as("token", "get", "app")
		seen.WriteString(out + errs)
		if code != 3 || out != "" || !strings.Contains(errs, clientRefusal) {
			t.Errorf("token get as uid %d: exit %d, stdout %q, stderr %q; want exit 3, %q", uid, code, out, errs, clientRefusal)
		}
		pout, _, _ := as("peer", "socket", m.sock)
		for _, a := range attempts(pout) {
			if a.Status != 0 || !strings.Contains(a.Err, "permission denied") {
				t.Errorf("%s: %+v, want permission denied by the kernel", a.Name, a)
			}
		}
	})

	t.Run("socket opened to everyone: the peer check refuses", func(t *testing.T) {
		for p, mode := range map[string]os.FileMode{filepath.Dir(m.sock): 0o777, m.sock: 0o777} {
			if err := os.Chmod(p, mode); err != nil {
				t.Fatal(err)
			}
		}
		// The owner's own token would refuse the opened directory too.
		defer os.Chmod(filepath.Dir(m.sock), 0o700)
		defer os.Chmod(m.sock, 0o600)
		refusal := fmt.Sprintf("uid %d may not use the tokend of uid 0", uid)
		for _, args := range [][]string{{"get", "app"}, {"get"}, {"env", "app"}, {"status"}, {"kube", "app"}} {
			out, errs, code := as("token", args...)
			seen.WriteString(out + errs)
			if code != 3 || out != "" || !strings.Contains(errs, "owned by uid 0 (root), not by you") {
				t.Errorf("token %v as uid %d: exit %d, stdout %q, stderr %q; want exit 3, refusing a directory of uid 0", args, uid, code, out, errs)
			}
		}
		pout, _, _ := as("peer", "socket", m.sock)
		for _, a := range attempts(pout) {
			if a.Status != 403 || !strings.Contains(a.Body, `"error":"forbidden"`) || !strings.Contains(a.Body, refusal) {
				t.Errorf("%s: %+v, want 403 forbidden", a.Name, a)
			}
		}
	})

	t.Run("tcp: the kernel says it is another user", func(t *testing.T) {
		pout, _, _ := as("peer", "tcp", st.Listeners.TCP, capID)
		for _, a := range attempts(pout) {
			if a.Status != 0 || a.Body != "" || a.Err == "" || strings.Contains(a.Err, "timeout") {
				t.Errorf("%s: %+v, want the connection closed unanswered", a.Name, a)
			}
		}
	})

	t.Run("tcp: leaked capabilities are the owner's alone", func(t *testing.T) {
		data, err := os.ReadFile(dbxCfg)
		if err != nil {
			t.Fatal(err)
		}
		ms := regexpFind(t, `(?m)^metadata_service_url = (\S+)$`, string(data))
		pout, _, _ := as("peer", "leaked", ms, e2eWorkspace, envCap["IDENTITY_ENDPOINT"], envCap["IDENTITY_HEADER"])
		for _, a := range attempts(pout) {
			if a.Status != 0 || a.Body != "" || a.Err == "" || strings.Contains(a.Err, "timeout") {
				t.Errorf("%s: %+v, want the connection closed unanswered", a.Name, a)
			}
		}
		// The same URL works for its owner (after the check above, so that
		// served() counts nothing of this).
		defer func() { before = served(m.status()) }()
		if code, _ := metadataToken(t, ms, e2eWorkspace); code != 200 {
			t.Fatalf("the owner's own .databrickscfg URL: HTTP %d", code)
		}
	})

	if after := served(m.status()); after != before {
		t.Errorf("the daemon handed out %d tokens to the other user", after-before)
	}
	m.stop()
	if logs := m.logs.String(); !strings.Contains(logs, "refused socket peer") || !strings.Contains(logs, fmt.Sprintf("uid=%d", uid)) ||
		!strings.Contains(logs, fmt.Sprintf(`msg="refused TCP peer of another user" uid=%d`, uid)) {
		t.Errorf("the daemon did not log the refused peer:\n%s", logs)
	}
	for _, s := range append(m.em.Issued(), ownerToken) {
		if len(s) > 8 && strings.Contains(seen.String(), s) {
			t.Fatal("the other user saw an issued secret")
		}
	}
	if strings.Contains(seen.String(), "eyJ") || strings.Contains(seen.String(), "access_token") {
		t.Fatalf("the other user saw a token:\n%s", seen.String())
	}
}

// otherBin is a directory the other user can enter, with token and tokend
// (links to, or copies of, the test binary that acts as them, readable and
// executable by all: testscript.Main keeps them in a directory of ours
// alone) and the peer helper.
func otherBin(t *testing.T) string {
	t.Helper()
	bin, err := os.MkdirTemp("", "tkd-other")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(bin) })
	os.Chmod(bin, 0o755)
	for _, name := range []string{"token", "tokend"} {
		if err := os.Link(filepath.Join(binDir, name), filepath.Join(bin, name)); err != nil {
			copyFile(t, filepath.Join(binDir, name), filepath.Join(bin, name))
		}
		if err := os.Chmod(filepath.Join(bin, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "peer"), "./testdata/peer")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build peer: %v\n%s", err, out)
	}
	os.Chmod(filepath.Join(bin, "peer"), 0o755)
	return bin
}

// runAs runs prog as uid with env and stdin; it returns stdout, stderr and
// the exit code.
func runAs(t *testing.T, uid, gid uint32, prog string, env []string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %s as uid %d: %v", prog, uid, err)
	}
	return out.String(), errb.String(), code
}

type attempt struct {
	Name   string `json:"name"`
	Status int    `json:"status"`
	Body   string `json:"body"`
	Err    string `json:"err"`
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestSocketRefusals: a second daemon on the same socket, and a daemon
// asked to put its socket in a directory that others can write to or that
// another user owns, refuse to start, say why, and leave the place as it
// was.
func TestSocketRefusals(t *testing.T) {
	m := newMachine(t, "file")
	m.start()
	serve := func(sock string) (string, int) {
		t.Helper()
		// A memory store: the file store's lock would refuse first.
		cmd := exec.Command(filepath.Join(binDir, "tokend"), "serve", "--store", "memory")
		cmd.Env = append(m.env, "TOKEND_SOCKET="+sock, "TOKEND_STATE_DIR="+t.TempDir())
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("tokend serve with socket %s: %v (want a refusal)\n%s", sock, err, out)
		}
		return string(out), ee.ExitCode()
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) string // returns the socket path
		want  string
		root  bool
	}{
		{"second daemon", func(t *testing.T) string { return m.sock }, "another tokend is already listening", false},
		{"world-writable dir", func(t *testing.T) string {
			dir := filepath.Join(t.TempDir(), "run")
			os.Mkdir(dir, 0o700)
			os.Chmod(dir, 0o777)
			return filepath.Join(dir, "tokend.sock")
		}, "writable by others", false},
		{"/tmp itself", func(t *testing.T) string { return "/tmp/tokend-e2e.sock" }, "unsafe socket location", false},
		{"dir of another user", func(t *testing.T) string {
			uid, gid := otherUser(t)
			dir := filepath.Join(t.TempDir(), "run")
			os.Mkdir(dir, 0o700)
			if err := os.Chown(dir, int(uid), int(gid)); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(dir, "tokend.sock")
		}, "not by you", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock := tc.setup(t)
			out, code := serve(sock)
			if code == 0 || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, want a refusal saying %q:\n%s", code, tc.want, out)
			}
			if sock != m.sock {
				if _, err := os.Lstat(sock); err == nil {
					t.Fatal("a socket was created anyway")
				}
			}
		})
	}
	// The first daemon is untouched.
	m.mustToken(entraemu.ClientSecret+"\n", "login", "app", "--client-secret-stdin")
	m.mustToken("", "get", "app")
}
