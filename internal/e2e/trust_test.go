//go:build linux

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tokend/tokend/entraemu"
)

// squatter is the peer helper listening, as another user, where the
// owner's clients will look for tokend.
type squatter struct {
	cmd   *exec.Cmd
	stdin interface{ Close() error }
	out   *bufio.Reader
}

func startSquatter(t *testing.T, uid, gid uint32, bin, path string) *squatter {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "peer"), "squat", path)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	s := &squatter{cmd: cmd, stdin: in, out: bufio.NewReader(outp)}
	if line, err := s.out.ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("squatter: %q, %v", line, err)
	}
	return s
}

// received stops the squatter and returns what it got.
func (s *squatter) received(t *testing.T) (conns, bytes int64) {
	t.Helper()
	s.stdin.Close()
	var got struct{ Connections, Bytes int64 }
	line, err := s.out.ReadString('\n')
	if err != nil || json.Unmarshal([]byte(line), &got) != nil {
		t.Fatalf("squatter's count: %q, %v", line, err)
	}
	s.cmd.Wait()
	return got.Connections, got.Bytes
}

// TestSquattedSocket: another user who got to the socket's place first —
// its directory, the socket itself, or the process behind a socket that
// looks like the owner's — receives nothing from `token login
// --password-stdin`, `token get`, `token exec` (whose child does not run),
// `token env` or `token status`: each exits 3 with one line naming the
// path and its owner, before sending a byte.
func TestSquattedSocket(t *testing.T) {
	uid, gid := otherUser(t)
	bin := otherBin(t)
	m := tcpMachine(t, "") // a config and profiles; no daemon runs
	// A directory like /tmp: anyone may create in it, sticky.
	tmp, err := os.MkdirTemp("", "tkd-squat")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	if err := os.Chmod(tmp, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	owner := fmt.Sprintf("uid %d (%s)", uid, otherUserName)

	// ownDir is a directory of the owner's (root) in which the other user
	// created the socket (chowned to them meanwhile, as a mistake would).
	ownDir := func(t *testing.T) string {
		dir := filepath.Join(tmp, "own-"+strings.ReplaceAll(t.Name(), "/", "-"))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chown(dir, int(uid), int(gid))
		t.Cleanup(func() { os.Chown(dir, 0, 0) })
		return dir
	}
	for _, tc := range []struct {
		name string
		// setup returns the socket path, after the squatter is listening
		// (prepare runs then).
		path    func(t *testing.T) string
		prepare func(t *testing.T, path string)
		want    string // in the refusal, besides the path
		conns   bool   // the squatter sees connections (that carry nothing)
	}{
		{
			name: "squatted directory",
			path: func(t *testing.T) string { return filepath.Join(tmp, "tokend-0", "tokend.sock") },
			want: "socket dir " + filepath.Join(tmp, "tokend-0") + " is owned by " + owner,
		},
		{
			name:    "socket of another user in the owner's directory",
			path:    func(t *testing.T) string { return filepath.Join(ownDir(t), "tokend.sock") },
			prepare: func(t *testing.T, path string) { os.Chown(filepath.Dir(path), 0, 0) },
			want:    "is owned by " + owner,
		},
		{
			name: "socket of the owner served by another user",
			path: func(t *testing.T) string { return filepath.Join(ownDir(t), "tokend.sock") },
			prepare: func(t *testing.T, path string) {
				os.Chown(filepath.Dir(path), 0, 0)
				if err := os.Chown(path, 0, 0); err != nil {
					t.Fatal(err)
				}
			},
			want:  "is served by " + owner,
			conns: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path(t)
			sq := startSquatter(t, uid, gid, bin, path)
			if tc.prepare != nil {
				tc.prepare(t, path)
			}
			mark := filepath.Join(t.TempDir(), "child-ran")
			env := append(append([]string{}, m.env...), "TOKEND_SOCKET="+path)
			for _, c := range []struct {
				stdin string
				args  []string
			}{
				{"correct horse battery staple\n", []string{"login", "user", "--username", "alice@tokend.test", "--password-stdin"}},
				{"", []string{"get", "app"}},
				{"", []string{"exec", "app", "--", "touch", mark}},
				{"", []string{"env", "app"}},
				{"", []string{"status"}},
			} {
				out, errs, code := runAs(t, 0, 0, filepath.Join(binDir, "token"), env, c.stdin, c.args...)
				if code != 3 || out != "" || strings.Count(errs, "\n") != 1 ||
					!strings.Contains(errs, "refusing to talk to tokend at "+path) || !strings.Contains(errs, tc.want) {
					t.Errorf("token %s: exit %d, stdout %q, stderr %q; want exit 3 and one line naming %s and %q", c.args[0], code, out, errs, path, tc.want)
				}
			}
			if _, err := os.Stat(mark); err == nil {
				t.Error("token exec ran its command")
			}
			conns, n := sq.received(t)
			if n != 0 {
				t.Errorf("the squatter received %d bytes", n)
			}
			if (conns > 0) != tc.conns {
				t.Errorf("the squatter saw %d connections", conns)
			}
			t.Logf("squatter: %d connections, %d bytes", conns, n)
		})
	}
}

// TestStoppedDaemon: `token get` and `token status` against a daemon that
// was stopped (SIGSTOP: the kernel still accepts connections) exit 3 at
// their deadline, naming the daemon's pid.
func TestStoppedDaemon(t *testing.T) {
	m := newMachine(t, "file")
	m.start()
	m.mustToken(entraemu.ClientSecret+"\n", "login", "app", "--client-secret-stdin")
	pid := m.daemon.Process.Pid
	if err := m.daemon.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.daemon.Process.Signal(syscall.SIGCONT) })
	want := fmt.Sprintf("tokend (pid %d) is not answering on %s", pid, m.sock)
	for _, args := range [][]string{{"get", "app", "--timeout", "2s"}, {"status", "--timeout", "1s"}} {
		start := time.Now()
		cmd := exec.Command(filepath.Join(binDir, "token"), args...)
		cmd.Env = m.env
		var errb strings.Builder
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Not a timing assertion: a guard against hanging for ever.
		guard := time.AfterFunc(time.Minute, func() { cmd.Process.Kill() })
		err := cmd.Wait()
		guard.Stop()
		took := time.Since(start)
		code := -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != 3 || !strings.Contains(errb.String(), want) {
			t.Errorf("token %v: exit %d after %s, stderr %q; want exit 3 and %q", args, code, took, errb.String(), want)
		}
		t.Logf("token %s with a stopped daemon: exit %d after %s (deadline %s)", args[0], code, took.Round(time.Millisecond), args[len(args)-1])
	}
	m.daemon.Process.Signal(syscall.SIGCONT)
	m.mustToken("", "get", "app")
}

// TestTCPFloodByAnotherUser: another user holds 256 connections to the
// TCP port (reconnecting whenever one is closed) and sends forged
// capabilities as fast as it can, while the owner's programs ask for
// tokens as an SDK does (the managed-identity endpoint, a new connection
// per request, and a kept-alive client). Every request of the owner
// succeeds. The latencies with and without the attack are logged (no
// timing is asserted).
func TestTCPFloodByAnotherUser(t *testing.T) {
	uid, gid := otherUser(t)
	bin := otherBin(t)
	m := tcpMachine(t, "")
	m.start()
	m.mustToken(entraemu.ClientSecret+"\n", "login", "app", "--client-secret-stdin")
	capOut := m.mustToken("", "env", "app")
	capability := regexpFind(t, `IDENTITY_HEADER='([^']+)'`, capOut)
	capID := regexpFind(t, `tokend capability ([0-9a-f]{16})`, capOut)
	tcp := m.status().Listeners.TCP

	const n = 400
	measure := func(phase string) {
		t.Helper()
		for _, mode := range []string{"new connection", "kept alive"} {
			hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: mode == "new connection"}}
			lat := make([]time.Duration, 0, n)
			failed := 0
			for range n {
				req, _ := http.NewRequest("GET", "http://"+tcp+"/msi/token?api-version=2019-08-01&resource=2ff814a6-3304-4ab8-85cb-cd0e6f879c1d", nil)
				req.Header.Set("X-IDENTITY-HEADER", capability)
				start := time.Now()
				resp, err := hc.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				lat = append(lat, time.Since(start))
				if err != nil || resp.StatusCode != 200 {
					failed++
					if failed <= 3 {
						t.Errorf("%s, %s: %v %v", phase, mode, resp, err)
					}
				}
			}
			hc.CloseIdleConnections()
			if failed > 0 {
				t.Errorf("%s, %s: %d of %d requests failed", phase, mode, failed, n)
			}
			slices.Sort(lat)
			t.Logf("owner's requests, %s, %s: p50 %s, p99 %s, max %s (%d requests)", phase, mode,
				lat[n/2].Round(time.Microsecond), lat[n*99/100].Round(time.Microsecond), lat[n-1].Round(time.Microsecond), n)
		}
	}
	measure("no attack")

	cmd := exec.Command(filepath.Join(bin, "peer"), "flood", tcp, capID)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
	in, _ := cmd.StdinPipe()
	outp, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	out := bufio.NewReader(outp)
	if line, err := out.ReadString('\n'); err != nil || line != "flooding\n" {
		t.Fatalf("flood: %q, %v", line, err)
	}
	time.Sleep(time.Second) // let it fill what it can
	measure("under attack")
	in.Close()
	line, _ := out.ReadString('\n')
	cmd.Wait()
	var stats map[string]int64
	if err := json.Unmarshal([]byte(line), &stats); err != nil {
		t.Fatalf("flood stats %q: %v", line, err)
	}
	t.Logf("the other user's flood: %v", stats)
	if stats["held connections answered"] != 0 || stats["forged: 401"] != 0 || stats["forged: 429"] != 0 {
		t.Errorf("the other user's requests were read: %v", stats)
	}
	if stats["held connections"] < 256 {
		t.Errorf("the flood made only %d connections", stats["held connections"])
	}
	if !strings.Contains(m.logs.String(), fmt.Sprintf("uid=%d", uid)) {
		t.Error("the refused uid is not in the log")
	}
}

// TestManyScopesThroughOneCapability: a program asks for 10 000 distinct
// scopes through one capability. The identity provider is asked for at
// most max_scope_sets_per_capability of them, the others get a 403 that
// says why, and the daemon's memory stays bounded (figures logged).
func TestManyScopesThroughOneCapability(t *testing.T) {
	m := tcpMachine(t, "")
	m.start()
	m.mustToken(entraemu.ClientSecret+"\n", "login", "app", "--client-secret-stdin")
	capOut := m.mustToken("", "env", "app")
	capability := regexpFind(t, `IDENTITY_HEADER='([^']+)'`, capOut)
	tcp := m.status().Listeners.TCP
	pid := m.daemon.Process.Pid
	m.api(numbered(10_000, "api://many-%d")...) // the emulator, like Entra, refuses resources it does not know
	m.em.ResetCounts()
	before := rssKB(t, pid)

	const n = 10_000
	statuses := map[int]int{}
	var refusal string
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			hc := &http.Client{Timeout: 30 * time.Second}
			defer hc.CloseIdleConnections()
			for i := range next {
				req, _ := http.NewRequest("GET", fmt.Sprintf("http://%s/v1/token?scope=api://many-%d/.default", tcp, i), nil)
				req.Header.Set("Authorization", "Bearer "+capability)
				resp, err := hc.Do(req)
				if err != nil {
					t.Errorf("request %d: %v", i, err)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				mu.Lock()
				statuses[resp.StatusCode]++
				if resp.StatusCode == 403 && refusal == "" {
					refusal = string(body)
				}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	after := rssKB(t, pid)
	calls := m.em.Counts()["client_credentials"]
	t.Logf("%d distinct scopes through one capability: answers %v, %d identity-provider calls, daemon RSS %d kB before, %d kB after", n, statuses, calls, before, after)
	const limit = 64 // config.DefaultMaxCapabilityScopeSets
	if statuses[200] != limit || statuses[403] != n-limit {
		t.Errorf("answers %v, want %d × 200 and the rest 403", statuses, limit)
	}
	if calls > limit {
		t.Errorf("%d identity-provider calls, want at most %d", calls, limit)
	}
	if !strings.Contains(refusal, `"error":"forbidden"`) || !strings.Contains(refusal, "max_scope_sets_per_capability") {
		t.Errorf("the refusal does not say why: %s", refusal)
	}
	if grown := after - before; grown > 64<<10 {
		t.Errorf("the daemon grew by %d kB", grown)
	}
}

// rssKB is the resident memory of process pid.
func rssKB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return kb
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestDaemonMemoryIsItsOwn: a process of the daemon's own uid that is not
// root — the daemon's parent, even — cannot read the daemon's memory
// through /proc/PID/mem, while it can read a sleep of its own that way;
// and the daemon writes no core file (RLIMIT_CORE 0). The daemon runs as
// the second OS user here, so that its uid is not root.
func TestDaemonMemoryIsItsOwn(t *testing.T) {
	uid, gid := otherUser(t)
	bin := otherBin(t)
	home, err := os.MkdirTemp("", "tkd-mem")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	if err := os.Chown(home, int(uid), int(gid)); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(home, "run", "tokend.sock")
	env := []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent", "TOKEND_CONFIG=/nonexistent/config.toml",
		"TOKEND_SOCKET=" + sock, "TOKEND_STATE_DIR=" + filepath.Join(home, "state"), "TOKEND_HTTP=127.0.0.1:0"}
	out, errs, code := runAs(t, uid, gid, filepath.Join(bin, "peer"), env, "", "memread", sock, filepath.Join(bin, "tokend"), "serve", "--store", "memory")
	if code != 0 {
		t.Fatalf("memread: exit %d: %s", code, errs)
	}
	var got struct {
		UID       int    `json:"uid"`
		DaemonPID int    `json:"daemon_pid"`
		Daemon    string `json:"daemon"`
		Control   string `json:"control"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("memread: %q: %v", out, err)
	}
	t.Logf("uid %d reading /proc/PID/mem: tokend (pid %d): %s; its own sleep: %s", got.UID, got.DaemonPID, got.Daemon, got.Control)
	if got.UID != int(uid) || got.UID == 0 {
		t.Fatalf("the reader runs as uid %d", got.UID)
	}
	if !strings.HasPrefix(got.Control, "read 16 bytes") {
		t.Fatalf("the reader cannot read a process of its own either (%s): the test proves nothing", got.Control)
	}
	if !strings.Contains(got.Daemon, "permission denied") {
		t.Errorf("reading the daemon's memory: %s, want permission denied", got.Daemon)
	}
}

// TestNoCoreFiles: the daemon's core file limit is 0.
func TestNoCoreFiles(t *testing.T) {
	m := newMachine(t, "file")
	m.start()
	limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", m.daemon.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(limits)) {
		if strings.HasPrefix(line, "Max core file size") {
			if f := strings.Fields(line); len(f) < 6 || f[4] != "0" || f[5] != "0" {
				t.Fatalf("core limit: %q, want 0 0", line)
			}
			return
		}
	}
	t.Fatalf("no core limit in:\n%s", limits)
}
