package daemon

import (
	"io"
	"net/http"
	"testing"

	"github.com/tokend/tokend/client/wire"
)

// BenchmarkToken measures GET /v1/token of a cached token end to end over
// each listener, serially and with parallel callers.
func BenchmarkToken(b *testing.B) {
	h := newHarness(b, harnessOpts{noRefresher: true})
	h.get("/v1/token?profile=app").token(b)
	r := h.post("/v1/capabilities", wire.CapabilityRequest{Profile: "app"})
	var cp wire.Capability
	if err := jsonDecode(bytesReader(r.body), &cp); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		hc   *http.Client
		url  string
		auth string
	}{
		{"socket", h.unix, "http://tokend/v1/token?profile=app", ""},
		{"tcp", h.http, "http://" + h.tcp + "/v1/token?profile=app", "Bearer " + cp.Token},
	} {
		one := func(b *testing.B) {
			req, _ := http.NewRequest("GET", tc.url, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := tc.hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				one(b)
			}
		})
		b.Run(tc.name+"-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					one(b)
				}
			})
		})
	}
}
