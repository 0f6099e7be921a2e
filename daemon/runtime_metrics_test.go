package daemon

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
	"testing"
)

// TestRuntimeMetrics: GET /v1/metrics carries the Go runtime's goroutines
// and allocations, which `make bench` turns into allocations per request.
func TestRuntimeMetrics(t *testing.T) {
	h := newHarness(t, harnessOpts{noRefresher: true})
	scrape := func() map[string]float64 {
		t.Helper()
		r := h.get("/v1/metrics")
		if r.status != 200 {
			t.Fatalf("metrics: %d", r.status)
		}
		m := map[string]float64{}
		sc := bufio.NewScanner(bytes.NewReader(r.body))
		for sc.Scan() {
			name, v, ok := strings.Cut(sc.Text(), " ")
			if !ok || strings.HasPrefix(name, "#") || !strings.HasPrefix(name, "go_") {
				continue
			}
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%q: %v", sc.Text(), err)
			}
			m[name] = f
		}
		return m
	}
	before := scrape()
	for range 20 {
		h.get("/v1/token?profile=app").token(t)
	}
	after := scrape()
	for _, name := range []string{"go_goroutines", "go_memstats_mallocs_total", "go_memstats_sys_bytes"} {
		if after[name] <= 0 {
			t.Errorf("%s = %v, want > 0", name, after[name])
		}
	}
	// 20 requests, each allocating on both sides of the connection.
	if grew := after["go_memstats_mallocs_total"] - before["go_memstats_mallocs_total"]; grew < 20 {
		t.Errorf("allocations grew by %v over 20 requests", grew)
	}
}
