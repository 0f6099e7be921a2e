package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/tokend/tokend/client"
	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/entraemu"
	"github.com/tokend/tokend/entraemu/workspace"
)

// TestServiceScripts runs testdata/service/*.txtar: the service identities
// (client certificate, Azure CLI, managed identity, workload identity), the
// client secret rotated under a running daemon, the Azure management token
// and the SP-admin headers, and `tokend doctor`, through the real binaries
// against a standalone emulator and a fake Azure Databricks workspace. The
// PKCS#12 files of internal/pkcs12/testdata are in $WORK/pkcs12.
//
// Commands beyond the login scripts': svcconfig (emuconfig with more
// variables), svcvars (the same variables in the environment), emucert,
// fedtoken, workspace, waitstate, sleep.
func TestServiceScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "service"),
		Setup: func(env *testscript.Env) error {
			if err := scriptEnv(env); err != nil {
				return err
			}
			for _, k := range []string{"IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT", "AZURE_FEDERATED_TOKEN_FILE"} {
				env.Setenv(k, "")
			}
			dst := filepath.Join(env.WorkDir, "pkcs12")
			if err := os.MkdirAll(dst, 0o700); err != nil {
				return err
			}
			for _, name := range []string{"cert.pem", "key.pem", "modern.pfx", "legacy.pfx", "empty-password.pfx"} {
				data, err := os.ReadFile(filepath.Join("..", "pkcs12", "testdata", name))
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dst, name), data, 0o600); err != nil {
					return err
				}
			}
			env.Values[personKey{}] = &person{}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitsock":  waitSock,
			"exits":     exits,
			"jwt":       checkJWT,
			"emu":       emuAdmin,
			"svcconfig": svcConfig,
			"svcvars":   svcVarsCmd,
			"emucert":   emuCert,
			"fedtoken":  fedToken,
			"workspace": workspaceCmd,
			"waitstate": waitState,
			"sleep":     sleepCmd,
		},
	})
}

// svcVars are the variables svcconfig and svcvars expand: those of emuconfig
// and the service identities of the fixture, and $WORK and $WORKSPACE.
// The emulator is asked only when one of its variables is used.
func svcVars(ts *testscript.TestScript) func(string) (string, bool) {
	fixed := map[string]string{
		"WORK": ts.Getenv("WORK"), "WORKSPACE": ts.Getenv("WORKSPACE"), "WORKSPACE_RID": workspaceRID,
		"WORKSPACE2": ts.Getenv("WORKSPACE2"), "WORKSPACE3": ts.Getenv("WORKSPACE3"), "ACCOUNT_HOST": ts.Getenv("ACCOUNT_HOST"),
		"MI_HEADER": entraemu.ManagedIdentityHeader, "MI_PATH": entraemu.ManagedIdentityPath,
		"UAMI_CLIENT_ID": entraemu.UserAssignedClientID, "UAMI_RESOURCE_ID": entraemu.UserAssignedResourceID,
		"WORKLOAD_CLIENT_ID": entraemu.WorkloadClientID, "CONFIDENTIAL_CLIENT_ID": entraemu.ConfidentialClientID,
	}
	var fromEmulator map[string]string
	return func(k string) (string, bool) {
		if v, ok := fixed[k]; ok {
			return v, true
		}
		if fromEmulator == nil {
			fx, _ := emulatorFixture(ts)
			fromEmulator = map[string]string{
				"EMULATOR": emulatorURL(fx), "AUTHORITY": fx.Authority, "TENANT": fx.TenantID,
				"CLIENT_ID": fx.PublicClientID, "CA_FILE": fx.CAFile,
			}
		}
		v, ok := fromEmulator[k]
		return v, ok
	}
}

func expand(ts *testscript.TestScript, vars func(string) (string, bool), s string) string {
	return os.Expand(s, func(k string) string {
		v, ok := vars(k)
		if !ok {
			ts.Fatalf("unknown variable ${%s}", k)
		}
		return v
	})
}

// svcconfig IN OUT writes OUT from IN with the variables of svcVars.
func svcConfig(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: svcconfig IN OUT")
	}
	out := expand(ts, svcVars(ts), ts.ReadFile(args[0]))
	if err := os.WriteFile(ts.MkAbs(args[1]), []byte(out), 0o600); err != nil {
		ts.Fatalf("svcconfig: %v", err)
	}
}

// svcvars sets the variables of svcconfig that come from the emulator
// (EMULATOR, AUTHORITY, TENANT, CA_FILE, MI_HEADER, MI_PATH…) in the
// script's environment.
func svcVarsCmd(ts *testscript.TestScript, neg bool, args []string) {
	vars := svcVars(ts)
	for _, k := range []string{"EMULATOR", "AUTHORITY", "TENANT", "CA_FILE", "MI_HEADER", "MI_PATH", "UAMI_CLIENT_ID", "UAMI_RESOURCE_ID", "WORKLOAD_CLIENT_ID"} {
		v, _ := vars(k)
		ts.Setenv(k, v)
	}
}

// admin posts body to the emulator's admin path and decodes the answer.
func admin(ts *testscript.TestScript, path string, body any, out any) {
	fx, hc := emulatorFixture(ts)
	b, _ := json.Marshal(body)
	resp, err := hc.Post(emulatorURL(fx)+path, "application/json", bytes.NewReader(b))
	if err != nil {
		ts.Fatalf("%s: %v", path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(data, out) != nil {
		ts.Fatalf("%s: HTTP %d %s", path, resp.StatusCode, data)
	}
}

// emucert OUT [-cn CN] [-lifetime SECONDS] [-register thumbprint|subject|none]
// has the emulator issue a client certificate for the confidential client
// and writes it with its key to OUT (PEM); emucert -register-file FILE
// registers the certificate in FILE instead.
func emuCert(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("emucert", flag.ContinueOnError)
	cn := fs.String("cn", "", "")
	life := fs.Int64("lifetime", 0, "")
	register := fs.String("register", "", "")
	file := fs.String("register-file", "", "")
	var out string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		out, args = args[0], args[1:]
	}
	if fs.Parse(args) != nil || fs.NArg() != 0 || (out == "") == (*file == "") {
		ts.Fatalf("usage: emucert OUT [-cn CN] [-lifetime S] [-register thumbprint|subject|none] | emucert -register-file FILE")
	}
	if *file != "" {
		var ok map[string]any
		admin(ts, "/_emulator/certificate", map[string]string{"certificate": ts.ReadFile(*file)}, &ok)
		return
	}
	var res struct{ PEM string }
	admin(ts, "/_emulator/certificate", map[string]any{"common_name": *cn, "lifetime_seconds": *life, "register": *register}, &res)
	if err := os.WriteFile(ts.MkAbs(out), []byte(res.PEM), 0o600); err != nil {
		ts.Fatalf("emucert: %v", err)
	}
}

// fedtoken FILE [-subject S] [-lifetime SECONDS] writes a token of the
// emulator's federated issuer to FILE, replacing it atomically as the
// kubelet replaces a projected token.
func fedToken(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("fedtoken", flag.ContinueOnError)
	subject := fs.String("subject", "", "")
	life := fs.Int64("lifetime", 0, "")
	if len(args) == 0 || fs.Parse(args[1:]) != nil || fs.NArg() != 0 {
		ts.Fatalf("usage: fedtoken FILE [-subject S] [-lifetime SECONDS]")
	}
	var res struct{ Token string }
	admin(ts, "/_emulator/federated/token", map[string]any{"subject": *subject, "lifetime_seconds": *life}, &res)
	path := ts.MkAbs(args[0])
	if err := os.WriteFile(path+".tmp", []byte(res.Token+"\n"), 0o600); err != nil {
		ts.Fatalf("fedtoken: %v", err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		ts.Fatalf("fedtoken: %v", err)
	}
}

const workspaceRID = "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/tokend/providers/Microsoft.Databricks/workspaces/tokend-e2e"

// workspace start [-admin] [-account ID] [-var NAME] runs a fake Azure
// Databricks workspace (entraemu/workspace: it verifies tokens with the
// emulator's JWKS) and sets $WORKSPACE (or $NAME) to its URL; -admin makes
// it require the SP-admin headers of service principals, -account makes it
// the account console of account ID. workspace call [-drop HEADER] FILE calls its SCIM
// Me endpoint with the header lines in FILE (minus HEADER) and prints the
// answer; the call must succeed (or, negated, fail).
func workspaceCmd(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) == 0 {
		ts.Fatalf("usage: workspace start [-admin] | workspace call [-drop HEADER] FILE")
	}
	fs := flag.NewFlagSet("workspace", flag.ContinueOnError)
	adminOnly := fs.Bool("admin", false, "")
	account := fs.String("account", "", "")
	name := fs.String("var", "WORKSPACE", "")
	drop := fs.String("drop", "", "")
	if fs.Parse(args[1:]) != nil {
		ts.Fatalf("workspace: bad flags")
	}
	switch args[0] {
	case "start":
		fx, hc := emulatorFixture(ts)
		ws := &workspace.Workspace{Authority: fx.Authority, HTTPClient: hc, ResourceID: workspaceRID, RequireAdminHeaders: *adminOnly, AccountID: *account}
		srv := httptest.NewServer(ws)
		ts.Defer(srv.Close)
		ts.Setenv(*name, srv.URL)
	case "call":
		if fs.NArg() != 1 {
			ts.Fatalf("usage: workspace call [-drop HEADER] FILE")
		}
		req, _ := http.NewRequest(http.MethodGet, ts.Getenv("WORKSPACE")+workspace.MePath, nil)
		sc := bufio.NewScanner(strings.NewReader(ts.ReadFile(fs.Arg(0))))
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ": ")
			if !ok {
				ts.Fatalf("workspace call: %q is not a header line", sc.Text())
			}
			if !strings.EqualFold(k, *drop) {
				req.Header.Set(k, v)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			ts.Fatalf("workspace call: %v", err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		fmt.Fprintf(ts.Stdout(), "HTTP %d %s", resp.StatusCode, data)
		if (resp.StatusCode == 200) == neg {
			ts.Fatalf("workspace call: HTTP %d %s", resp.StatusCode, data)
		}
	default:
		ts.Fatalf("usage: workspace start [-admin] | workspace call [-drop HEADER] FILE")
	}
}

// waitstate PROFILE STATE waits (up to 60s) until the daemon reports
// PROFILE in STATE, and prints its last error.
func waitState(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: waitstate PROFILE STATE")
	}
	c := client.New(ts.Getenv("TOKEND_SOCKET"))
	var last wire.ProfileStatus
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		st, err := c.Status(context.Background())
		if err != nil {
			ts.Fatalf("waitstate: %v", err)
		}
		for _, p := range st.Profiles {
			if p.Name == args[0] {
				last = p
			}
		}
		if last.State == args[1] {
			fmt.Fprintln(ts.Stdout(), last.LastError)
			return
		}
	}
	ts.Fatalf("waitstate: %s is %s (%s), not %s, after 60s", args[0], last.State, last.LastError, args[1])
}

// sleep DURATION waits.
func sleepCmd(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: sleep DURATION")
	}
	d, err := time.ParseDuration(args[0])
	if err != nil {
		ts.Fatalf("sleep: %v", err)
	}
	time.Sleep(d)
}
