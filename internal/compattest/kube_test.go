package compattest

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// audOf returns a JWT's aud claim, "" for anything else.
func audOf(jwt string) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct{ Aud string }
	json.Unmarshal(b, &c)
	return c.Aud
}

// TestKubeExecCredential: client-go's exec-credential runner, configured as
// a kubeconfig would configure `token kube`, reaches an API server that
// demands an AKS token, in both ExecCredential versions.
func TestKubeExecCredential(t *testing.T) {
	d := startTokend(t, nil)
	var mu sync.Mutex
	var seen []string
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !d.issued(tok) || audOf(tok) != aksServerID {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Unauthorized","code":401}`)
			return
		}
		mu.Lock()
		seen = append(seen, tok)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[]}`)
	}))
	defer api.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.Certificate().Raw})

	get := func(t *testing.T, exec *clientcmdapi.ExecConfig) int {
		t.Helper()
		hc, err := rest.HTTPClientFor(&rest.Config{Host: api.URL, TLSClientConfig: rest.TLSClientConfig{CAData: ca}, ExecProvider: exec})
		if err != nil {
			t.Fatal(err)
		}
		defer hc.CloseIdleConnections()
		resp, err := hc.Get(api.URL + "/api")
		if err != nil {
			t.Fatalf("GET /api: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(t, nil); code != http.StatusUnauthorized {
		t.Fatalf("without credentials: %d, want 401", code)
	}
	for _, tc := range []struct {
		name, apiVersion string
		args             []string
	}{
		{"v1", "client.authentication.k8s.io/v1", []string{"kube", "app"}},
		{"v1beta1", "client.authentication.k8s.io/v1beta1", []string{"kube", "app"}},
		{"v1, explicit server id", "client.authentication.k8s.io/v1", []string{"kube", "-p", "app", "--server-id", aksServerID}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			seen = nil
			mu.Unlock()
			code := get(t, &clientcmdapi.ExecConfig{
				Command:         tokenBin,
				Args:            tc.args,
				APIVersion:      tc.apiVersion,
				Env:             []clientcmdapi.ExecEnvVar{{Name: "TOKEND_SOCKET", Value: d.sock}},
				InteractiveMode: clientcmdapi.NeverExecInteractiveMode,
			})
			if code != http.StatusOK {
				t.Fatalf("with token kube: %d", code)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != 1 || seen[0] != d.token(t, aksServerID).AccessToken {
				t.Fatalf("API server saw %d requests with tokend's AKS token", len(seen))
			}
		})
	}
}
