package entraemu

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestWorkspace(t *testing.T) {
	e := start(t, Config{})
	other := start(t, Config{})
	const rid = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Databricks/workspaces/w"
	ws := &Workspace{Authority: e.Authority(), HTTPClient: e.HTTPClient(), ResourceID: rid, RequireAdminHeaders: true}
	srv := httptest.NewServer(ws)
	t.Cleanup(srv.Close)

	appToken := func(em *Emulator, clientID, secret, scope string) string {
		t.Helper()
		r := post(t, em, v2Token, url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}, "scope": {scope}})
		if r.status != 200 {
			t.Fatalf("%d %v", r.status, r.body)
		}
		return r.str("access_token")
	}
	dbx := appToken(e, ConfidentialClientID, ClientSecret, databricksScope)
	mgmt := appToken(e, ConfidentialClientID, ClientSecret, ManagementResource+"/.default")
	graph := appToken(e, ConfidentialClientID, ClientSecret, "https://graph.microsoft.com/.default")
	if err := e.AddFederatedCredential("0ther000-aaaa-4bbb-8ccc-000000000009", FederatedIssuer, "s", FederatedAudience); err != nil {
		t.Fatal(err)
	}
	ft, _ := e.FederatedToken("s", "", time.Hour)
	otherApp := post(t, e, v2Token, url.Values{"grant_type": {"client_credentials"}, "client_id": {"0ther000-aaaa-4bbb-8ccc-000000000009"},
		"client_assertion_type": {clientAssertionType}, "client_assertion": {ft}, "scope": {ManagementResource + "/.default"}}).str("access_token")
	user := post(t, e, v2Token, url.Values{"grant_type": {"password"}, "client_id": {PublicClientID}, "username": {Username}, "password": {Password}, "scope": {databricksScope}}).str("access_token")
	foreign := appToken(other, ConfidentialClientID, ClientSecret, databricksScope)

	for _, tc := range []struct {
		name    string
		headers map[string]string
		status  int
		want    string // userName on success, detail on failure
	}{
		{"user", map[string]string{"Authorization": "Bearer " + user}, 200, Username},
		{"app with admin headers", map[string]string{"Authorization": "Bearer " + dbx, "X-Databricks-Azure-SP-Management-Token": mgmt, "X-Databricks-Azure-Workspace-Resource-Id": strings.ToLower(rid)}, 200, ConfidentialClientID},
		{"app alone", map[string]string{"Authorization": "Bearer " + dbx}, 403, "is not a member of this workspace"},
		{"app without resource id", map[string]string{"Authorization": "Bearer " + dbx, "X-Databricks-Azure-SP-Management-Token": mgmt}, 403, "is not a member"},
		{"another workspace", map[string]string{"Authorization": "Bearer " + dbx, "X-Databricks-Azure-SP-Management-Token": mgmt, "X-Databricks-Azure-Workspace-Resource-Id": rid + "2"}, 403, "is not this workspace"},
		{"management token of the wrong audience", map[string]string{"Authorization": "Bearer " + dbx, "X-Databricks-Azure-SP-Management-Token": dbx, "X-Databricks-Azure-Workspace-Resource-Id": rid}, 403, "audience"},
		{"management token of another app", map[string]string{"Authorization": "Bearer " + dbx, "X-Databricks-Azure-SP-Management-Token": otherApp, "X-Databricks-Azure-Workspace-Resource-Id": rid}, 403, "another application"},
		{"token for another resource", map[string]string{"Authorization": "Bearer " + graph}, 401, "audience"},
		{"tampered", map[string]string{"Authorization": "Bearer " + user[:len(user)-4] + "AAAA"}, 401, "signature"},
		{"another identity provider", map[string]string{"Authorization": "Bearer " + foreign}, 401, "not in the JWKS"},
		{"no token", nil, 401, "no bearer token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+WorkspaceMePath, nil)
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
		late := &Workspace{Authority: e.Authority(), HTTPClient: e.HTTPClient(), Now: func() time.Time { return time.Now().Add(2 * time.Hour) }}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, WorkspaceMePath, nil)
		req.Header.Set("Authorization", "Bearer "+user)
		late.ServeHTTP(rec, req)
		if rec.Code != 401 || !strings.Contains(rec.Body.String(), "expired") {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	})
}
