package daemon

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"sync/atomic"
	"time"

	"github.com/tokend/tokend/client/wire"
)

// Remaining-life buckets of served tokens, and upstream latency buckets.
var (
	lifeBuckets    = []time.Duration{10 * time.Minute, 30 * time.Minute, 60 * time.Minute}
	latencyBuckets = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
)

// profileMetrics are the counters behind GET /v1/metrics that status does
// not already keep. All atomic: the hot path only adds.
type profileMetrics struct {
	servedByLife [4]atomic.Int64 // < 10m, < 30m, < 60m, ≥ 60m left
	latency      [11]atomic.Int64
	latencySumUS atomic.Int64
}

func (m *profileMetrics) served(left time.Duration) {
	i := sort.Search(len(lifeBuckets), func(i int) bool { return left < lifeBuckets[i] })
	m.servedByLife[i].Add(1)
}

func (m *profileMetrics) upstream(d time.Duration) {
	i := sort.SearchFloat64s(latencyBuckets, d.Seconds())
	m.latency[i].Add(1)
	m.latencySumUS.Add(d.Microseconds())
}

// handleMetrics serves Prometheus text exposition (version 0.0.4).
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	st := s.status()
	now := s.clock.Now()
	counter := func(name, help string, v func(p wire.ProfileStatus) int64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n", name, help, name)
		for _, p := range st.Profiles {
			fmt.Fprintf(w, "%s{profile=%q} %d\n", name, p.Name, v(p))
		}
	}
	counter("tokend_tokens_served_total", "Tokens handed out.", func(p wire.ProfileStatus) int64 { return p.Counters.Served })
	counter("tokend_requests_waited_total", "Requests that waited on the identity provider.", func(p wire.ProfileStatus) int64 { return p.Counters.Waited })
	counter("tokend_refreshes_total", "Successful identity-provider calls.", func(p wire.ProfileStatus) int64 { return p.Counters.Refreshes })
	counter("tokend_refresh_failures_total", "Failed identity-provider calls.", func(p wire.ProfileStatus) int64 { return p.Counters.Failures })

	fmt.Fprint(w, "# HELP tokend_tokens_served_by_remaining_life_total Tokens handed out, by life left when served.\n# TYPE tokend_tokens_served_by_remaining_life_total counter\n")
	labels := []string{"lt10m", "lt30m", "lt60m", "ge60m"}
	ps := s.profileSet()
	for _, p := range ps.list {
		name, m := p.cfg.Name, &p.metrics
		for i, l := range labels {
			fmt.Fprintf(w, "tokend_tokens_served_by_remaining_life_total{profile=%q,remaining=%q} %d\n", name, l, m.servedByLife[i].Load())
		}
	}

	fmt.Fprint(w, "# HELP tokend_upstream_latency_seconds Identity-provider call latency.\n# TYPE tokend_upstream_latency_seconds histogram\n")
	for _, p := range ps.list {
		name, m := p.cfg.Name, &p.metrics
		var cum int64
		for i, b := range latencyBuckets {
			cum += m.latency[i].Load()
			fmt.Fprintf(w, "tokend_upstream_latency_seconds_bucket{profile=%q,le=%q} %d\n", name, fmt.Sprint(b), cum)
		}
		cum += m.latency[len(latencyBuckets)].Load()
		fmt.Fprintf(w, "tokend_upstream_latency_seconds_bucket{profile=%q,le=\"+Inf\"} %d\n", name, cum)
		fmt.Fprintf(w, "tokend_upstream_latency_seconds_sum{profile=%q} %g\n", name, float64(m.latencySumUS.Load())/1e6)
		fmt.Fprintf(w, "tokend_upstream_latency_seconds_count{profile=%q} %d\n", name, cum)
	}

	fmt.Fprint(w, "# HELP tokend_profile_state Current state of each profile (1 for the state it is in).\n# TYPE tokend_profile_state gauge\n")
	for _, p := range st.Profiles {
		for _, state := range []string{wire.StateReady, wire.StateRefreshing, wire.StateLoginRequired, wire.StateError, wire.StateUnsaved} {
			fmt.Fprintf(w, "tokend_profile_state{profile=%q,state=%q} %d\n", p.Name, state, b2i(p.State == state))
		}
	}
	fmt.Fprint(w, "# HELP tokend_token_remaining_seconds Life left of each profile's own token.\n# TYPE tokend_token_remaining_seconds gauge\n")
	for _, p := range st.Profiles {
		left := 0.0
		if p.ExpiresOn != 0 {
			left = math.Max(0, time.Unix(p.ExpiresOn, 0).Sub(now).Seconds())
		}
		fmt.Fprintf(w, "tokend_token_remaining_seconds{profile=%q} %g\n", p.Name, left)
	}
	fmt.Fprintf(w, "# HELP tokend_store_healthy Whether the secret store works.\n# TYPE tokend_store_healthy gauge\ntokend_store_healthy{backend=%q} %d\n", st.Store.Backend, b2i(st.Store.Healthy))
	writeRuntimeMetrics(w) // runtime_metrics.go
	_, err := io.WriteString(w, "")
	return err
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
