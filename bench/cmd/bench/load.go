package main

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"
)

// loadResult is one run: clients connections to one listener sending
// GET /v1/token, closed loop or paced (see runLoad).
type loadResult struct {
	Transport string  `json:"transport"` // socket or tcp
	Clients   int     `json:"clients"`
	Offered   float64 `json:"offered_rps,omitempty"` // paced runs: the requests a second sent
	Seconds   float64 `json:"seconds"`
	Requests  int64   `json:"requests"`
	RPS       float64 `json:"rps"`
	P50US     float64 `json:"p50_us"`
	P90US     float64 `json:"p90_us"`
	P99US     float64 `json:"p99_us"`
	MaxUS     float64 `json:"max_us"`
	// From the daemon's own metrics, over the measured interval.
	AllocsPerRequest float64 `json:"allocs_per_request"`
	GoroutinesPeak   int64   `json:"goroutines_peak"`
	RSSPeakKB        int64   `json:"rss_peak_kb"`
	// OtherCPU is the share of the machine's CPU time that went to other
	// processes while measuring; Attempts counts runs made to get one
	// with little of it (see cmdRun).
	OtherCPU float64 `json:"other_cpu"`
	Attempts int     `json:"attempts"`
}

// target is a daemon listener to load.
type target struct {
	name    string // socket or tcp
	network string // unix or tcp
	addr    string
	req     []byte
}

// okBody is how every good answer of GET /v1/token begins.
var okBody = []byte(`{"access_token":"`)

func checkAnswer(status int, body []byte) error {
	if status != 200 || !bytes.HasPrefix(body, okBody) {
		return fmt.Errorf("status %d: %.200s", status, body)
	}
	return nil
}

// runLoad loads t with clients connections: warm-up, then dur measured.
// With rate 0 each connection sends its next request as soon as the answer
// to the last one arrived (closed loop: the most the daemon can do, and
// latency at saturation). With a rate, the connections together send rate
// requests a second on a fixed schedule, and latency counts from when a
// request was due, not from when it went out, so that a stalled daemon
// cannot hide its stall by delaying the requests behind it (no
// "coordinated omission", as wrk2). Only requests sent in the measured
// interval count. Any failed request fails the run. d, if not nil, is
// sampled for allocations, goroutines and memory just before and just
// after the measured interval, with the connections open.
func runLoad(ctx context.Context, t target, clients int, rate float64, warm, dur time.Duration, d *daemonProbe) (loadResult, error) {
	l, err := newLoader(t, clients, rate)
	if err != nil {
		return loadResult{}, err
	}
	defer l.close()
	if err := l.run(ctx, time.Now().Add(warm), false); err != nil {
		return loadResult{}, err
	}
	var before, after probeSample
	if d != nil {
		if before, err = d.sample(); err != nil {
			return loadResult{}, err
		}
	}
	var meter *cpuMeter
	if d != nil {
		meter = newCPUMeter(d.pid)
	}
	t0 := time.Now()
	if err := l.run(ctx, t0.Add(dur), true); err != nil {
		return loadResult{}, err
	}
	elapsed := time.Since(t0)
	var other float64
	if meter != nil {
		other = meter.otherShare()
	}
	if d != nil {
		if after, err = d.sample(); err != nil {
			return loadResult{}, err
		}
	}
	all := l.latencies()
	slices.Sort(all)
	r := loadResult{
		Transport: t.name,
		Clients:   clients,
		Offered:   rate,
		Seconds:   elapsed.Seconds(),
		Requests:  int64(len(all)),
		RPS:       float64(len(all)) / elapsed.Seconds(),
		P50US:     us(quantile(all, 0.50)),
		P90US:     us(quantile(all, 0.90)),
		P99US:     us(quantile(all, 0.99)),
		MaxUS:     us(quantile(all, 1)),
		OtherCPU:  other,
		Attempts:  1,
	}
	if d != nil {
		if served := after.served - before.served; served > 0 {
			r.AllocsPerRequest = float64(after.allocs-before.allocs) / float64(served)
		}
		r.GoroutinesPeak = max(before.goroutines, after.goroutines)
		r.RSSPeakKB = max(before.rssKB, after.rssKB, d.rssPeakKB())
	}
	return r, nil
}

// quantile of sorted durations (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
