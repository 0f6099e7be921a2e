package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/tokend/tokend/bench/rawhttp"
)

// faninResult is the refresh fan-in check: callers asking at once for a
// token that is past its serving limit, and what reached the identity
// provider.
type faninResult struct {
	Callers    int     `json:"callers"`
	OK         int     `json:"ok"`
	SameToken  bool    `json:"same_token"`
	Fresh      bool    `json:"fresh"`     // the answer is not the stale token
	IdPCalls   int     `json:"idp_calls"` // token requests the emulator got
	Waited     int64   `json:"waited"`    // callers the daemon counts as having waited on the refresh
	WallMS     float64 `json:"wall_ms"`
	IdPDelayMS int     `json:"idp_delay_ms"`
}

// emulatorAdmin drives the emulator's test controls.
type emulatorAdmin struct {
	base string
	hc   *http.Client
}

func newEmulatorAdmin(base, caFile string) (*emulatorAdmin, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no certificate", caFile)
	}
	return &emulatorAdmin{base: base, hc: &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}}, nil
}

func (a *emulatorAdmin) call(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+"/_emulator/"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("emulator %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("emulator %s: HTTP %d: %s", path, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// fanin lets n callers ask at once, over n socket connections, for a
// (profile, scope) whose token has less life left than the daemon serves
// (the emulator issues it with 10 minutes and 1 second; a second later it
// is stale). The emulator holds the one refresh for delay so that every
// caller arrives while it is in flight.
func fanin(ctx context.Context, socket, profile string, em *emulatorAdmin, probe *daemonProbe, n int, delay time.Duration) (faninResult, error) {
	r := faninResult{Callers: n, IdPDelayMS: int(delay.Milliseconds())}
	scope := "api://tokend-bench-fanin/.default"
	target := "/v1/token?profile=" + url.QueryEscape(profile) + "&scope=" + url.QueryEscape(scope)
	dial := func() (net.Conn, error) { return net.Dial("unix", socket) }
	req := rawhttp.Request("tokend", target)
	get := func() (string, error) {
		nc, err := dial()
		if err != nil {
			return "", err
		}
		defer nc.Close()
		return tokenOf(rawhttp.NewConn(nc, req).Do())
	}

	if err := em.call("POST", "lifetime", map[string]int{"min_seconds": 601, "max_seconds": 601}, nil); err != nil {
		return r, err
	}
	defer em.call("POST", "lifetime", map[string]int{"min_seconds": 0, "max_seconds": 0}, nil)
	stale, err := get()
	if err != nil {
		return r, fmt.Errorf("first token: %w", err)
	}
	if !sleep(ctx, 1500*time.Millisecond) { // under 10 minutes left: no longer served
		return r, ctx.Err()
	}

	conns := make([]*rawhttp.Conn, n)
	for i := range conns {
		nc, err := dial()
		if err != nil {
			return r, fmt.Errorf("caller %d: %w", i, err)
		}
		defer nc.Close()
		conns[i] = rawhttp.NewConn(nc, req)
	}
	before, err := probe.metrics()
	if err != nil {
		return r, err
	}
	if err := em.call("POST", "counts/reset", nil, nil); err != nil {
		return r, err
	}
	if err := em.call("POST", "fail", map[string]any{"count": 1, "delay_ms": delay.Milliseconds()}, nil); err != nil {
		return r, err
	}
	defer em.call("POST", "fail", map[string]int{"count": 0}, nil)

	toks := make([]string, n)
	errs := make([]error, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i, c := range conns {
		ready.Add(1)
		done.Go(func() {
			ready.Done()
			<-start
			toks[i], errs[i] = tokenOf(c.Do())
		})
	}
	ready.Wait()
	t0 := time.Now()
	close(start)
	done.Wait()
	r.WallMS = float64(time.Since(t0).Microseconds()) / 1e3

	var counts map[string]int
	if err := em.call("GET", "counts", nil, &counts); err != nil {
		return r, err
	}
	after, err := probe.metrics()
	if err != nil {
		return r, err
	}
	r.IdPCalls = counts["client_credentials"] + counts["v1:client_credentials"] + counts["refresh_token"] + counts["password"]
	r.Waited = after["tokend_requests_waited_total"] - before["tokend_requests_waited_total"]
	r.SameToken, r.Fresh = true, true
	for i := range n {
		if errs[i] != nil {
			return r, fmt.Errorf("caller %d: %w", i, errs[i])
		}
		r.OK++
		r.SameToken = r.SameToken && toks[i] == toks[0]
		r.Fresh = r.Fresh && toks[i] != stale
	}
	return r, nil
}

// tokenOf takes the access token out of a GET /v1/token answer.
func tokenOf(status int, body []byte, err error) (string, error) {
	if err != nil {
		return "", err
	}
	var t struct {
		AccessToken string `json:"access_token"`
	}
	if status != 200 || json.Unmarshal(body, &t) != nil || t.AccessToken == "" {
		return "", fmt.Errorf("status %d: %.200s", status, body)
	}
	return t.AccessToken, nil
}
