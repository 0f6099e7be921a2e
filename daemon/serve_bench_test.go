package daemon

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/tokend/tokend/bench/rawhttp"
	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/redact"
)

// BenchmarkServeToken measures the daemon's side of GET /v1/token of a
// cached token, over the socket and over TCP, through the real listeners
// and guards, with a client that allocates nothing (the load generator's):
// allocs/op are the server's. The "audit" variants log the audit line of
// each token handed out, as tokend does at its default level, through the
// redacting handler into io.Discard (the cost of formatting, not of
// writing).
//
//	go test -run '^$' -bench ServeToken -benchmem -cpuprofile cpu.out -memprofile mem.out ./daemon
func BenchmarkServeToken(b *testing.B) {
	for _, audit := range []bool{false, true} {
		var log *slog.Logger
		name := ""
		if audit {
			log = slog.New(redact.NewHandler(slog.NewTextHandler(io.Discard, nil),
				"profile", "scopes", "expires_on", "endpoint", "via", "uid", "pid", "exe", "capability", "peer"))
			name = "audit-"
		}
		h := newHarness(b, harnessOpts{noRefresher: true, logger: log})
		h.get("/v1/token?profile=app").token(b)
		r := h.post("/v1/capabilities", wire.CapabilityRequest{Profile: "app"})
		var cp wire.Capability
		if err := jsonDecode(bytes.NewReader(r.body), &cp); err != nil {
			b.Fatal(err)
		}
		for _, tc := range []struct {
			name    string
			network string
			addr    string
			req     []byte
		}{
			{"socket", "unix", h.sock, rawhttp.Request("tokend", "/v1/token?profile=app")},
			{"tcp", "tcp", h.tcp, rawhttp.Request(h.tcp, "/v1/token?profile=app", "Authorization: Bearer "+cp.Token)},
		} {
			dial := func(b *testing.B) *rawhttp.Conn {
				nc, err := net.Dial(tc.network, tc.addr)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { nc.Close() })
				return rawhttp.NewConn(nc, tc.req)
			}
			one := func(b *testing.B, c *rawhttp.Conn) {
				status, body, err := c.Do()
				if err != nil || status != 200 || !bytes.HasPrefix(body, []byte(`{"access_token":"`)) {
					b.Fatalf("status %d, err %v: %.200s", status, err, body)
				}
			}
			b.Run(name+tc.name, func(b *testing.B) {
				c := dial(b)
				b.ReportAllocs()
				for b.Loop() {
					one(b, c)
				}
			})
			b.Run(name+tc.name+"-parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.SetParallelism(8) // 16 connections on 2 cores
				b.RunParallel(func(pb *testing.PB) {
					c := dial(b)
					for pb.Next() {
						one(b, c)
					}
				})
			})
		}
	}
}
