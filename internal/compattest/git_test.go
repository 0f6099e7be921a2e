package compattest

import (
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// gitServer serves one repository over HTTPS through the real
// git-http-backend, behind an authentication check like Azure DevOps':
// scheme "Bearer" wants "Authorization: Bearer <token>", scheme "Basic" the
// token as the Basic password. A token is valid when the emulator issued it
// for Azure DevOps and it was not rejected.
type gitServer struct {
	*httptest.Server
	scheme string
	caFile string
	host   string // 127.0.0.1:port, as git names it to helpers

	mu       sync.Mutex
	accepted []string
	rejected map[string]bool
}

func newGitServer(t *testing.T, d *tokend, root, scheme string) *gitServer {
	t.Helper()
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v", err)
	}
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	g := &gitServer{scheme: scheme, rejected: map[string]bool{}}
	g.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := g.credential(r)
		g.mu.Lock()
		ok := tok != "" && d.issued(tok) && audOf(tok) == adoResource && !g.rejected[tok]
		if ok {
			g.accepted = append(g.accepted, tok)
		}
		g.mu.Unlock()
		if !ok {
			w.Header().Set("WWW-Authenticate", scheme+` realm="tokend-test"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(g.Close)
	g.host = strings.TrimPrefix(g.URL, "https://")
	g.caFile = filepath.Join(t.TempDir(), "ca.pem")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: g.Certificate().Raw})
	if err := os.WriteFile(g.caFile, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	return g
}

// credential is the token a request presents in the server's scheme.
func (g *gitServer) credential(r *http.Request) string {
	if g.scheme == "Basic" {
		_, pw, ok := r.BasicAuth()
		if !ok {
			return ""
		}
		return pw
	}
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return tok
}

func (g *gitServer) reject(tok string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.rejected[tok] = true
}

// lastAccepted is the token of the last request let through.
func (g *gitServer) lastAccepted() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.accepted) == 0 {
		return ""
	}
	return g.accepted[len(g.accepted)-1]
}

// makeRepo creates root/repo.git with one commit holding README.
func makeRepo(t *testing.T, root string) {
	t.Helper()
	work := filepath.Join(t.TempDir(), "work")
	for _, args := range [][]string{
		{"init", "-q", "-b", "main", work},
		{"-C", work, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "init"},
	} {
		gitRun(t, nil, args...)
	}
	if err := os.WriteFile(filepath.Join(work, "README"), []byte("tokend\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitRun(t, nil, "-C", work, "add", "README")
	gitRun(t, nil, "-C", work, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "readme")
	gitRun(t, nil, "clone", "-q", "--bare", work, filepath.Join(root, "repo.git"))
}

// gitEnv isolates git from the machine's configuration and terminal.
func gitEnv(t *testing.T, extra ...string) []string {
	home := t.TempDir()
	return append(append(cleanEnv(), "HOME="+home, "XDG_CONFIG_HOME="+home, "GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=", "SSH_ASKPASS="), extra...)
}

func gitRun(t *testing.T, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Env = env
	if env == nil {
		cmd.Env = gitEnv(t)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// clone runs the real git clone of g's repository with extra -c settings,
// and reports whether it worked.
func (g *gitServer) clone(t *testing.T, d *tokend, config ...string) (bool, string) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "clone")
	args := []string{"-c", "credential.helper="} // forget the machine's helpers
	for _, c := range config {
		args = append(args, "-c", c)
	}
	args = append(args, "clone", "-q", g.URL+"/repo.git", dst)
	cmd := exec.Command("git", args...)
	cmd.Env = gitEnv(t, "GIT_SSL_CAINFO="+g.caFile, "TOKEND_SOCKET="+d.sock)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return false, string(out)
	}
	readme, err := os.ReadFile(filepath.Join(dst, "README"))
	if err != nil || string(readme) != "tokend\n" {
		t.Fatalf("clone has README %q, %v", readme, err)
	}
	return true, string(out)
}

// helper is the credential.helper setting for token.
func (g *gitServer) helper() string {
	return fmt.Sprintf("credential.helper=!'%s' git-credential -p app --host %s", tokenBin, g.host)
}

// TestGitBasic: the real git clones from a server that wants the token as
// the Basic password, through `token git-credential`; after the server
// rejects a token, git's "erase" makes tokend replace it.
func TestGitBasic(t *testing.T) {
	d := startTokend(t, nil)
	root := t.TempDir()
	makeRepo(t, root)
	g := newGitServer(t, d, root, "Basic")

	if ok, out := g.clone(t, d); ok {
		t.Fatalf("clone without credentials worked:\n%s", out)
	}
	if ok, out := g.clone(t, d, g.helper()); !ok {
		t.Fatalf("clone through token git-credential failed:\n%s", out)
	}
	first := g.lastAccepted()
	if first == "" || first != d.token(t, adoResource).AccessToken {
		t.Fatal("the server did not see tokend's Azure DevOps token")
	}

	// The server stops accepting the token (say, it was revoked): git
	// fails once and tells the helper to erase it, and tokend fetches a
	// new one, which the next clone uses.
	g.reject(first)
	before := d.em.Counts()["client_credentials"]
	if ok, out := g.clone(t, d, g.helper()); ok {
		t.Fatalf("clone with a rejected token worked:\n%s", out)
	}
	if got := d.em.Counts()["client_credentials"] - before; got != 1 {
		t.Fatalf("erase caused %d token requests, want 1", got)
	}
	if ok, out := g.clone(t, d, g.helper()); !ok {
		t.Fatalf("clone after erase failed:\n%s", out)
	}
	if second := g.lastAccepted(); second == first || second != d.token(t, adoResource).AccessToken {
		t.Fatal("after erase the clone did not use tokend's new token")
	}
}

// helperTalk runs `token git-credential ... op` with input, as git runs its
// helpers, and returns the answer's key=value lines.
func helperTalk(t *testing.T, d *tokend, g *gitServer, op, input string) map[string][]string {
	t.Helper()
	cmd := d.tokenCmd(context.Background(), "git-credential", "-p", "app", "--host", g.host, op)
	cmd.Stdin = strings.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("token git-credential %s: %v\n%s", op, err, stderr.String())
	}
	kv := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("answer line %q", line)
		}
		kv[k] = append(kv[k], v)
	}
	return kv
}

// TestGitBearer: the Bearer form. Debian's git (2.39) predates
// capability[]=authtype (git 2.46), so the helper protocol is spoken here
// as git 2.46+ speaks it: capabilities, then the server's challenge; the
// answer becomes "Authorization: <authtype> <credential>" exactly as git
// builds it, and the real git clones with that header.
func TestGitBearer(t *testing.T) {
	d := startTokend(t, nil)
	root := t.TempDir()
	makeRepo(t, root)
	g := newGitServer(t, d, root, "Bearer")

	// What git 2.46 learns from the server before asking helpers.
	hc := g.Client()
	resp, err := hc.Get(g.URL + "/repo.git/info/refs?service=git-upload-pack")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	challenge := resp.Header.Get("WWW-Authenticate")
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(challenge, "Bearer ") {
		t.Fatalf("server answered %d %q", resp.StatusCode, challenge)
	}
	request := "capability[]=authtype\ncapability[]=state\nprotocol=https\nhost=" + g.host + "\nwwwauth[]=" + challenge + "\n"

	answer := helperTalk(t, d, g, "get", request)
	if got := answer["capability[]"]; len(got) != 1 || got[0] != "authtype" {
		t.Fatalf("the helper did not echo capability[]=authtype (git would ignore authtype): keys %v", keys(answer))
	}
	if answer["authtype"][0] != "Bearer" || answer["ephemeral"][0] != "1" || len(answer["password_expiry_utc"]) != 1 || len(answer["password"]) != 0 {
		t.Fatalf("answer has keys %v", keys(answer))
	}
	header := "Authorization: " + answer["authtype"][0] + " " + answer["credential"][0]

	if ok, out := g.clone(t, d); ok {
		t.Fatalf("clone without the header worked:\n%s", out)
	}
	if ok, out := g.clone(t, d, "http.extraHeader="+header); !ok {
		t.Fatalf("clone with the helper's Bearer credential failed:\n%s", out)
	}
	first := answer["credential"][0]
	if g.lastAccepted() != first || first != d.token(t, adoResource).AccessToken {
		t.Fatal("the server did not get tokend's Azure DevOps token")
	}

	// A 401 makes git 2.46 send "erase" with the rejected credential;
	// the next "get" has a new token.
	g.reject(first)
	before := d.em.Counts()["client_credentials"]
	erase := "capability[]=authtype\nprotocol=https\nhost=" + g.host + "\nauthtype=Bearer\ncredential=" + first + "\nephemeral=1\n"
	if out := helperTalk(t, d, g, "erase", erase); len(out) != 0 {
		t.Fatalf("erase answered %v", keys(out))
	}
	if got := d.em.Counts()["client_credentials"] - before; got != 1 {
		t.Fatalf("erase caused %d token requests, want 1", got)
	}
	second := helperTalk(t, d, g, "get", request)["credential"][0]
	if second == first {
		t.Fatal("get after erase returned the rejected token")
	}
	if ok, out := g.clone(t, d, "http.extraHeader=Authorization: Bearer "+second); !ok {
		t.Fatalf("clone with the new token failed:\n%s", out)
	}
}

func keys(m map[string][]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
