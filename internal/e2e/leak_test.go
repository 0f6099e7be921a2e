package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/client"
	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/entraemu"
	"github.com/tokend/tokend/internal/emutest"
	"github.com/tokend/tokend/internal/flow"
)

// tcpMachine is a machine whose daemon also listens on loopback TCP, with
// profiles user (password), app (client secret, a Databricks workspace)
// and whatever extra adds.
func tcpMachine(t *testing.T, extra string) *machine {
	t.Helper()
	m := newMachine(t, "file")
	m.api("api://leak", "api://outage", "api://revoked")
	cfg := filepath.Join(t.TempDir(), "config.toml")
	err := os.WriteFile(cfg, fmt.Appendf(nil, "default_profile = \"app\"\n[daemon]\nstore = \"file\"\nhttp = \"127.0.0.1:0\"\n\n%s%s%s",
		emutest.Profile("user", flow.Password, m.em.Authority(), m.ca),
		emutest.Profile("app", flow.ClientSecret, m.em.Authority(), m.ca, `databricks_host = "https://adb-1.1.azuredatabricks.net"`),
		strings.NewReplacer("${AUTHORITY}", m.em.Authority(), "${CA_FILE}", m.ca).Replace(extra)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	m.env = append(m.env, "TOKEND_CONFIG="+cfg) // os/exec keeps the last of duplicate variables
	m.config = cfg
	return m
}

// startWith starts `tokend serve` with extra flags and waits until it
// answers on its socket.
func (m *machine) startWith(args ...string) {
	m.t.Helper()
	d := exec.Command(filepath.Join(binDir, "tokend"), append([]string{"serve"}, args...)...)
	d.Env = m.env
	d.Stderr = &m.logs
	if err := d.Start(); err != nil {
		m.t.Fatal(err)
	}
	m.daemon = d
	if err := waitServing(m.sock, 20*time.Second); err != nil {
		m.t.Fatalf("daemon did not start: %v\n%s", err, m.logs.String())
	}
}

// status is the owner's view of the daemon.
func (m *machine) status() wire.Status {
	m.t.Helper()
	var st wire.Status
	if err := json.Unmarshal([]byte(m.mustToken("", "status", "-o", "json")), &st); err != nil {
		m.t.Fatal(err)
	}
	return st
}

func served(st wire.Status) int64 {
	var n int64
	for _, p := range st.Profiles {
		n += p.Counters.Served
	}
	return n
}

func regexpFind(t *testing.T, re, s string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no %s in %q", re, s)
	}
	return m[1]
}

// leakProfiles are two more profiles for tcpMachine (which fills in
// ${AUTHORITY} and ${CA_FILE}).
var leakProfiles = emutest.Profile("dev", flow.DeviceCode, "${AUTHORITY}", "${CA_FILE}") +
	emutest.Profile("rt", flow.RefreshToken, "${AUTHORITY}", "${CA_FILE}")

var (
	capRE    = regexp.MustCompile(`tkd1\.[0-9a-f]{16}\.[A-Za-z0-9_-]{43}`)
	jwtRE    = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}`)
	capIDsRE = regexp.MustCompile(`tkd1\.[0-9a-f]`)
)

// TestLogsLeakNothing runs the flows of the e2e scripts — every sign-in
// that needs no browser, every output format, the compatibility endpoints
// and commands, capabilities minted, used, forged and revoked, identity
// provider outages and a revoked sign-in — against a daemon logging at
// debug level in each format, with the emulator in this process so that
// its list of every token, refresh token and code it issued is complete.
// Then it greps the daemon's log and every message `token` printed on
// stderr for each of those secrets, the fixture's password and client
// secret, every capability, and anything shaped like a JWT or a
// capability: 0 hits. The audit lines prove the log was captured.
func TestLogsLeakNothing(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			m := tcpMachine(t, leakProfiles)
			m.startWith("--log-level", "debug", "--log-format", format)
			var stdouts, stderrs strings.Builder
			run := func(stdin string, want int, args ...string) string {
				t.Helper()
				out, errs, code := m.token(stdin, args...)
				stdouts.WriteString(out)
				stderrs.WriteString(errs)
				if code != want && !(want < 0 && code != 0) {
					t.Fatalf("token %v: exit %d, want %d: %s\n%s", args, code, want, errs, m.logs.String())
				}
				return out
			}

			// Sign-ins: password, client secret, device code, and a refresh
			// token the identity provider refuses.
			run("", 4, "get", "user")
			run(entraemu.Password+"\n", 0, "login", "user", "--username", entraemu.Username, "--password-stdin")
			run(entraemu.ClientSecret+"\n", 0, "login", "app", "--client-secret-stdin")
			bogus := make([]byte, 48)
			rand.Read(bogus)
			bogusRT := "1.AR" + base64.RawURLEncoding.EncodeToString(bogus)
			run(bogusRT+"\n", -1, "login", "rt", "--refresh-token-stdin")
			loggedIn := make(chan int, 1)
			go func() {
				out, errs, code := m.token("", "login", "dev", "--device-code")
				stdouts.WriteString(out)
				loggedIn <- code
				_ = errs // the device-code message, checked with the rest below
			}()
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if p := m.em.PendingDeviceCodes(); len(p) > 0 {
					if err := m.em.ApproveDeviceCode(p[0].UserCode, ""); err != nil {
						t.Fatal(err)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("no device code")
				}
			}
			if code := <-loggedIn; code != 0 {
				t.Fatalf("device-code login: exit %d", code)
			}

			// Tokens in every shape.
			for _, args := range [][]string{
				{"get", "user"}, {"get", "app"}, {"get", "dev"}, {"get"},
				{"get", "app", "-o", "json"}, {"get", "app", "-o", "header"}, {"get", "app", "-o", "az"}, {"get", "app", "-o", "databricks"},
				{"get", "user", "--scope", "api://leak/.default"}, {"get", "app", "--resource", "https://management.core.windows.net/"},
				{"status"}, {"status", "-o", "json"}, {"kube", "app"},
			} {
				run("", 0, args...)
			}
			gitIn := "protocol=https\nhost=dev.azure.com\ncapability[]=authtype\n\n"
			cred := run(gitIn, 0, "git-credential", "-p", "app", "get")
			tok := regexpFind(t, `credential=(\S+)`, cred)
			run("protocol=https\nhost=dev.azure.com\nauthtype=Bearer\ncredential="+tok+"\n\n", 0, "git-credential", "-p", "app", "erase")

			// Capabilities: minted, used on every TCP endpoint, forged,
			// revoked, and handed to a child.
			env := run("", 0, "env", "app")
			capTok := capRE.FindString(env)
			capID := regexpFind(t, `tokend capability ([0-9a-f]{16})`, env)
			tcp := m.status().Listeners.TCP
			hc := &http.Client{Timeout: 10 * time.Second}
			ask := func(path string, hdr ...string) int {
				req, _ := http.NewRequest("GET", "http://"+tcp+path, nil)
				for i := 0; i+1 < len(hdr); i += 2 {
					req.Header.Set(hdr[i], hdr[i+1])
				}
				resp, err := hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				stdouts.Write(b)
				return resp.StatusCode
			}
			for _, tc := range []struct {
				path string
				hdr  []string
				want int
			}{
				{"/v1/token", []string{"Authorization", "Bearer " + capTok}, 200},
				{"/msi/token?api-version=2019-08-01&resource=https://management.core.windows.net/", []string{"X-IDENTITY-HEADER", capTok}, 200},
				{"/databricks/" + capTok, []string{"X-Databricks-Metadata-Version", "1", "X-Databricks-Host", "https://adb-1.1.azuredatabricks.net"}, 200},
				{"/databricks/" + capTok + "/x", nil, 401},
				{"/v1/token", []string{"Authorization", "Bearer tkd1." + capID + ".forged"}, 401},
				{"/v1/token", []string{"Authorization", "Bearer " + capTok, "Origin", "https://evil.example"}, 403},
				{"/v1/token?profile=user", []string{"Authorization", "Bearer " + capTok}, 403},
			} {
				if got := ask(tc.path, tc.hdr...); got != tc.want {
					t.Fatalf("GET %s: %d, want %d", capRE.ReplaceAllString(tc.path, "CAP"), got, tc.want)
				}
			}
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+tcp+"/v1/watch", nil)
			req.Header.Set("Authorization", "Bearer "+capTok)
			if resp, err := hc.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			cancel()
			if err := client.New(m.sock).RevokeCapability(t.Context(), capID); err != nil {
				t.Fatal(err)
			}
			if got := ask("/v1/token", "Authorization", "Bearer "+capTok); got != 401 {
				t.Fatalf("revoked capability: %d", got)
			}
			run("", 0, "exec", "app", "--", "sh", "-c", `echo "$IDENTITY_HEADER"`)

			// Trouble: an identity-provider outage, a revoked sign-in.
			m.em.FailNext(50, entraemu.Fault{Status: 503})
			run("", 5, "get", "app", "--scope", "api://outage/.default")
			m.em.FailNext(0, entraemu.Fault{})
			m.em.RevokeUser(entraemu.Username)
			run("", 4, "get", "user", "--scope", "api://revoked/.default")
			run("", 0, "logout", "dev")
			m.stop()

			logs := m.logs.String()
			secrets := append(m.em.Issued(), entraemu.ClientSecret, entraemu.Password, bogusRT)
			secrets = append(secrets, capRE.FindAllString(stdouts.String(), -1)...)
			if len(m.em.Issued()) < 10 {
				t.Fatalf("only %d secrets issued: the flows did not run", len(m.em.Issued()))
			}
			for where, text := range map[string]string{"daemon log": logs, "token's messages": stderrs.String()} {
				hits := 0
				for _, s := range secrets {
					if strings.Contains(text, s) {
						hits++
					}
				}
				for _, re := range []*regexp.Regexp{jwtRE, capIDsRE} {
					if loc := re.FindStringIndex(text); loc != nil {
						t.Errorf("%s holds something shaped like a secret: …%s…", where, text[max(0, loc[0]-40):min(len(text), loc[1]+40)])
					}
				}
				if hits > 0 {
					t.Errorf("%s holds %d of the %d secrets issued", where, hits, len(secrets))
				}
			}
			if n := strings.Count(logs, "token issued"); n < 15 {
				t.Errorf("%d audit lines: the log was not captured whole\n%s", n, logs)
			}
			if !t.Failed() {
				t.Logf("%d secrets, %d bytes of daemon log, %d bytes of client messages: 0 hits", len(secrets), len(logs), stderrs.Len())
			}
		})
	}
}
