package daemon

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/entraemu"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/emutest"
	"github.com/tokend/tokend/internal/flow"
)

// TestReload: a new profile set applies without a restart. Unchanged
// profiles keep their tokens (no request to the identity provider), a
// changed one starts over from its stored sign-in, a new one is fetched at
// once, a removed one is gone along with its capabilities.
func TestReload(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.post("/v1/login", wire.LoginRequest{Profile: "user", Username: entraemu.Username, Password: entraemu.Password})
	h.waitReady("app")
	appTok := h.get("/v1/token?profile=app").token(t)
	r := h.post("/v1/capabilities", wire.CapabilityRequest{Profile: "user"})
	var userCap wire.Capability
	jsonDecode(bytesReader(r.body), &userCap)
	h.em.ResetCounts()

	ca := emutest.CAFile(t, h.em)
	// The app profile must compare equal: same file contents as the harness.
	appCfg := *h.srv.profile("app").cfg
	auth := h.em.Authority()
	cfg, err := config.Parse("reload.toml", []byte("default_profile = \"app\"\n"+
		emutest.Profile("app", flow.ClientSecret, auth, appCfg.CAFile)+
		emutest.Profile("user", flow.Password, auth, ca, `scopes = ["https://management.core.windows.net//.default"]`)+
		emutest.Profile("app2", flow.ClientSecret, auth, ca)))
	if err != nil {
		t.Fatal(err)
	}
	res := h.srv.Reload(cfg)
	if fmt.Sprint(res.Added, res.Changed, res.Kept, res.Removed) != "[app2] [user] [app] []" {
		t.Fatalf("reload = %+v", res)
	}
	h.settle()
	if got := h.get("/v1/token?profile=app").token(t); got.AccessToken != appTok.AccessToken {
		t.Error("an unchanged profile lost its token")
	}
	if c := h.em.Counts(); c["client_credentials"] != 0 {
		t.Errorf("an unchanged profile went to the identity provider: %v", c)
	}
	// The changed profile still has its sign-in (from the store) and now
	// covers the new scopes.
	tok := h.get("/v1/token?profile=user").token(t)
	if aud := claims(t, tok.AccessToken)["aud"]; aud != "https://management.core.windows.net/" {
		t.Errorf("changed profile's token is for %v", aud)
	}
	if st := h.profileStatus("user"); st.State != wire.StateReady {
		t.Errorf("changed profile: %+v", st)
	}
	// The new profile was fetched at once: no secret yet, so login_required.
	if st := h.profileStatus("app2"); st.State != wire.StateLoginRequired {
		t.Errorf("new profile: %+v", st)
	}

	delete(cfg.Profiles, "user")
	if res := h.srv.Reload(cfg); fmt.Sprint(res.Removed) != "[user]" {
		t.Fatalf("second reload = %+v", res)
	}
	if r := h.get("/v1/token?profile=user"); r.status != 404 || r.errCode(t) != wire.CodeUnknownProfile {
		t.Fatalf("removed profile: %d %s", r.status, r.body)
	}
	if h.srv.caps.check(userCap.Token) != nil {
		t.Fatal("the removed profile's capability still works")
	}
}

// TestReloadEndpoint: POST /v1/reload (what `token setup` calls) applies the
// config LoadConfig reads; one that does not load changes nothing and says
// why; a daemon without LoadConfig says it cannot; TCP callers may not.
// GET /v1/status names the config file.
func TestReloadEndpoint(t *testing.T) {
	var fail error
	h := newHarness(t, harnessOpts{loadConfig: func(cur *config.Config) (*config.Config, error) {
		if fail != nil {
			return nil, fail
		}
		next := *cur
		next.Profiles = map[string]*config.Profile{}
		for n, p := range cur.Profiles {
			next.Profiles[n] = p
		}
		app2 := *cur.Profiles["app"]
		app2.Name = "app2"
		next.Profiles["app2"] = &app2
		return &next, nil
	}})
	var st wire.Status
	jsonDecode(bytesReader(h.get("/v1/status").body), &st)
	if st.Config != "test.toml" {
		t.Errorf("status names config %q", st.Config)
	}
	r := h.post("/v1/reload", struct{}{})
	var res wire.ReloadResult
	jsonDecode(bytesReader(r.body), &res)
	if r.status != 200 || res.Config != "test.toml" || fmt.Sprint(res.Added, res.Kept) != "[app2] [app user]" {
		t.Fatalf("reload: %d %s", r.status, r.body)
	}
	if st := h.profileStatus("app2"); st.Name != "app2" {
		t.Errorf("app2 after the reload: %+v", st)
	}

	fail = fmt.Errorf("config.toml:3: unknown key %q", "profiles.x.tenat")
	r = h.post("/v1/reload", struct{}{})
	if r.status != 400 || r.errCode(t) != wire.CodeInvalidRequest || !strings.Contains(string(r.body), `config.toml:3: unknown key \"profiles.x.tenat\" (the running config is unchanged)`) {
		t.Fatalf("a config that does not load: %d %s", r.status, r.body)
	}
	if st := h.profileStatus("app2"); st.Name != "app2" {
		t.Error("a failed reload changed the profiles")
	}

	plain := newHarness(t, harnessOpts{})
	if r := plain.post("/v1/reload", struct{}{}); r.status != 400 || !strings.Contains(string(r.body), "cannot reload its config") {
		t.Fatalf("no LoadConfig: %d %s", r.status, r.body)
	}
}
