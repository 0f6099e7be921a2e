package workspace_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/entraemu"
	"github.com/tokend/tokend/entraemu/workspace"
)

// token gets an access token from em's v2 token endpoint.
func token(t *testing.T, em *entraemu.Emulator, form url.Values) string {
	t.Helper()
	resp, err := em.HTTPClient().PostForm(em.Authority()+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
		t.Fatalf("token: HTTP %d %v", resp.StatusCode, err)
	}
	return body.AccessToken
}

func appForm(clientID, secret, scope string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}, "scope": {scope}}
}

func TestWorkspace(t *testing.T) {
	e := entraemu.NewTest(t, entraemu.Config{})
	other := entraemu.NewTest(t, entraemu.Config{})
	const rid = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Databricks/workspaces/w"
	ws := &workspace.Workspace{Authority: e.Authority(), HTTPClient: e.HTTPClient(), ResourceID: rid, RequireAdminHeaders: true}
	srv := httptest.NewServer(ws)
	t.Cleanup(srv.Close)

	dbx := token(t, e, appForm(entraemu.ConfidentialClientID, entraemu.ClientSecret, workspace.DatabricksResource+"/.default"))
	mgmt := token(t, e, appForm(entraemu.ConfidentialClientID, entraemu.ClientSecret, workspace.ManagementResource+"/.default"))
	graph := token(t, e, appForm(entraemu.ConfidentialClientID, entraemu.ClientSecret, "https://graph.microsoft.com/.default"))
	const otherApp = "0a0e0000-aaaa-4bbb-8ccc-000000000009"
	if err := e.AddFederatedCredential(otherApp, entraemu.FederatedIssuer, "s", entraemu.FederatedAudience); err != nil {
		t.Fatal(err)
	}
	ft, _ := e.FederatedToken("s", "", time.Hour)
	otherMgmt := token(t, e, url.Values{"grant_type": {"client_credentials"}, "client_id": {otherApp},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {ft},
		"scope": {"https://management.azure.com/.default"}})
	user := token(t, e, url.Values{"grant_type": {"password"}, "client_id": {entraemu.PublicClientID},
		"username": {entraemu.Username}, "password": {entraemu.Password}, "scope": {workspace.DatabricksResource + "/.default"}})
	foreign := token(t, other, appForm(entraemu.ConfidentialClientID, entraemu.ClientSecret, workspace.DatabricksResource+"/.default"))
	// A v2.0 token of the fixture's test API: right issuer, wrong audience.
	v2 := token(t, e, appForm(entraemu.ConfidentialClientID, entraemu.ClientSecret, entraemu.TestAPIResource+"/.default"))

	for _, tc := range []struct {
		name    string
		headers map[string]string
		status  int
		want    string // userName on success, detail on failure
	}{
		{"user", map[string]string{"Authorization": "Bearer " + user}, 200, entraemu.Username},
		{"app with admin headers", map[string]string{"Authorization": "Bearer " + dbx, "X-Databricks-Azure-SP-Management-Token": mgmt, "X-Databricks-Azure-Workspace-Resource-Id": strings.ToLower(rid)}, 200, entraemu.ConfidentialClientID},
		{"app alone", map[string]string{"Authorization": "Bearer " + dbx}, 403, "is not a member of this workspace"},
		{"app without resource id", map[string]string{"Authorization": "Bearer " + dbx, "X-Databricks-Azure-SP-Management-Token": mgmt}, 403, "is not a member"},
		{"another workspace", map[string]string{"Authorization": "Bearer " + dbx, "X-Databricks-Azure-SP-Management-Token": mgmt, "X-Databricks-Azure-Workspace-Resource-Id": rid + "2"}, 403, "is not this workspace"},
		{"management token of the wrong audience", map[string]string{"Authorization": "Bearer " + dbx, "X-Databricks-Azure-SP-Management-Token": dbx, "X-Databricks-Azure-Workspace-Resource-Id": rid}, 403, "audience"},
		{"management token of another app", map[string]string{"Authorization": "Bearer " + dbx, "X-Databricks-Azure-SP-Management-Token": otherMgmt, "X-Databricks-Azure-Workspace-Resource-Id": rid}, 403, "another application"},
		{"token for another resource", map[string]string{"Authorization": "Bearer " + graph}, 401, "audience"},
		{"v2.0 token for another resource", map[string]string{"Authorization": "Bearer " + v2}, 401, "audience"},
		{"tampered", map[string]string{"Authorization": "Bearer " + user[:len(user)-4] + "AAAA"}, 401, "signature"},
		{"another identity provider", map[string]string{"Authorization": "Bearer " + foreign}, 401, "not in the JWKS"},
		{"no token", nil, 401, "no bearer token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+workspace.MePath, nil)
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct{ UserName, Detail string }
			json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != tc.status || !strings.Contains(body.UserName+body.Detail, tc.want) {
				t.Fatalf("%d %+v, want %d %q", resp.StatusCode, body, tc.status, tc.want)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		late := &workspace.Workspace{Authority: e.Authority(), HTTPClient: e.HTTPClient(), Now: func() time.Time { return time.Now().Add(2 * time.Hour) }}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, workspace.MePath, nil)
		req.Header.Set("Authorization", "Bearer "+user)
		late.ServeHTTP(rec, req)
		if rec.Code != 401 || !strings.Contains(rec.Body.String(), "expired") {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	})
}

// TestHostMetadata: the fields databricks-sdk-go's config.HostMetadata
// reads from /.well-known/databricks-config, and the /aad/auth redirect.
func TestHostMetadata(t *testing.T) {
	ws := &workspace.Workspace{Authority: "https://login.test/tenant-id", WorkspaceID: "42"}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "https://adb-42.7.azuredatabricks.test"+workspace.ConfigPath, nil)
	ws.ServeHTTP(rec, req)
	var meta struct {
		OIDCEndpoint string   `json:"oidc_endpoint"`
		WorkspaceID  string   `json:"workspace_id"`
		Cloud        string   `json:"cloud"`
		HostType     string   `json:"host_type"`
		Audiences    []string `json:"token_federation_default_oidc_audiences"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &meta); err != nil || rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if meta.OIDCEndpoint != "https://adb-42.7.azuredatabricks.test/oidc" || meta.WorkspaceID != "42" || meta.Cloud != "Azure" ||
		meta.HostType != "WORKSPACE_HOST" || len(meta.Audiences) != 1 || meta.Audiences[0] != "https://adb-42.7.azuredatabricks.test/oidc/v1/token" {
		t.Errorf("metadata = %+v", meta)
	}

	rec = httptest.NewRecorder()
	ws.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://adb-42.7.azuredatabricks.test"+workspace.AuthPath, nil))
	loc, _ := url.Parse(rec.Header().Get("Location"))
	if rec.Code != http.StatusFound || loc == nil || loc.Host != "login.test" || loc.Path != "/tenant-id/oauth2/authorize" ||
		loc.Query().Get("client_id") != workspace.DatabricksResource {
		t.Errorf("%d Location %q", rec.Code, rec.Header().Get("Location"))
	}

	rec = httptest.NewRecorder()
	ws.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, workspace.ConfigPath, nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("POST: %d", rec.Code)
	}
}

// TestAccountConsole: with AccountID the fake plays the account console:
// host metadata of an account host, and its SCIM Users for a Databricks
// token; no workspace API.
func TestAccountConsole(t *testing.T) {
	e := entraemu.NewTest(t, entraemu.Config{})
	const id = "0f0e0d0c-0b0a-4909-8807-060504030201"
	srv := httptest.NewServer(&workspace.Workspace{Authority: e.Authority(), HTTPClient: e.HTTPClient(), AccountID: id})
	t.Cleanup(srv.Close)
	get := func(path, bearer string) (int, map[string]any) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if code, m := get(workspace.ConfigPath, ""); code != 200 || m["host_type"] != "ACCOUNT_HOST" || m["account_id"] != id {
		t.Fatalf("host metadata: %d %v", code, m)
	}
	dbx := token(t, e, appForm(entraemu.ConfidentialClientID, entraemu.ClientSecret, workspace.DatabricksResource+"/.default"))
	mgmt := token(t, e, appForm(entraemu.ConfidentialClientID, entraemu.ClientSecret, workspace.ManagementResource+"/.default"))
	if code, m := get(workspace.AccountUsersPath(id), dbx); code != 200 || m["totalResults"] != float64(1) {
		t.Fatalf("users: %d %v", code, m)
	}
	for _, tc := range []struct {
		path, bearer string
		code         int
	}{
		{workspace.AccountUsersPath(id), "", 401},
		{workspace.AccountUsersPath(id), mgmt, 401},
		{workspace.AccountUsersPath("another"), dbx, 404},
		{workspace.MePath, dbx, 404},
	} {
		if code, m := get(tc.path, tc.bearer); code != tc.code {
			t.Errorf("%s: %d %v, want %d", tc.path, code, m, tc.code)
		}
	}
}
