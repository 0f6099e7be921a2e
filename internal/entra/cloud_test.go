package entra

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/entraemu"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/store"
)

// routed sends every request to the emulator, whatever host it names (the
// emulator builds its URLs from the Host asked for), and records the hosts.
type routed struct {
	to   string
	base http.RoundTripper
	mu   sync.Mutex
	seen []string
}

func (r *routed) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.seen = append(r.seen, req.URL.Host)
	r.mu.Unlock()
	out := req.Clone(req.Context())
	out.URL.Host, out.Host = r.to, req.URL.Host
	return r.base.RoundTrip(out)
}

func (r *routed) hosts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := slices.Clone(r.seen)
	slices.Sort(h)
	return slices.Compact(h)
}

// TestNationalClouds: the cloud picks the authority host (and turns MSAL's
// instance discovery on, as for every Microsoft host); authority overrides
// the cloud. No request leaves the machine: the emulator answers for every
// host.
func TestNationalClouds(t *testing.T) {
	em := startEmulator(t)
	emHost := must(url.Parse(em.URL())).Host
	for _, tc := range []struct {
		cloud, authority, want string
	}{
		{cloud: "public", want: "login.microsoftonline.com"},
		{cloud: "usgov", want: "login.microsoftonline.us"},
		{cloud: "china", want: "login.chinacloudapi.cn"},
		{cloud: "china", authority: "https://login.microsoftonline.us/" + entraemu.TenantID, want: "login.microsoftonline.us"},
	} {
		t.Run(tc.cloud+" "+tc.authority, func(t *testing.T) {
			rt := &routed{to: emHost, base: em.HTTPClient().Transport}
			st := store.NewMemory()
			st.Set(context.Background(), "profile/p/client-secret", []byte(entraemu.ClientSecret))
			p := &config.Profile{Name: "p", Flow: "client-secret", ClientID: entraemu.ConfidentialClientID, Tenant: entraemu.TenantID,
				Cloud: tc.cloud, Authority: tc.authority, Scopes: []string{config.DatabricksScope}}
			src, err := New(p, Options{Secrets: st, HTTPClient: &http.Client{Transport: rt}})
			if err != nil {
				t.Fatal(err)
			}
			if !src.instanceDiscovery() {
				t.Error("instance discovery off for a Microsoft host")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := src.Token(ctx, []string{config.DatabricksScope}); err != nil {
				t.Fatal(err)
			}
			if got := rt.hosts(); !slices.Equal(got, []string{tc.want}) {
				t.Errorf("requests went to %v, want only %s", got, tc.want)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
