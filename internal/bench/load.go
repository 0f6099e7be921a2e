package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokend/tokend/internal/bench/rawhttp"
)

// loadResult is one closed-loop run: clients connections, each sending
// GET /v1/token as soon as the previous answer arrived.
type loadResult struct {
	Transport string  `json:"transport"` // socket or tcp
	Clients   int     `json:"clients"`
	Seconds   float64 `json:"seconds"`
	Requests  int64   `json:"requests"`
	Errors    int64   `json:"errors"`
	RPS       float64 `json:"rps"`
	P50US     float64 `json:"p50_us"`
	P90US     float64 `json:"p90_us"`
	P99US     float64 `json:"p99_us"`
	MaxUS     float64 `json:"max_us"`
	// From the daemon's own metrics, over the measured interval.
	AllocsPerRequest float64 `json:"allocs_per_request"`
	GoroutinesPeak   int64   `json:"goroutines_peak"`
	RSSPeakKB        int64   `json:"rss_peak_kb"`
}

// target is a daemon listener to load.
type target struct {
	name string
	dial func() (net.Conn, error)
	req  []byte
}

// okBody is how every good answer of GET /v1/token begins.
var okBody = []byte(`{"access_token":"`)

// runLoad loads t with clients connections: warm-up, then dur measured.
// d, if not nil, is sampled for allocations, goroutines and memory.
func runLoad(ctx context.Context, t target, clients int, warm, dur time.Duration, d *daemonProbe) (loadResult, error) {
	conns := make([]*rawhttp.Conn, 0, clients)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range clients {
		nc, err := t.dial()
		if err != nil {
			return loadResult{}, fmt.Errorf("%s: connect: %w", t.name, err)
		}
		conns = append(conns, rawhttp.NewConn(nc, t.req))
	}

	var (
		recording, stop atomic.Bool
		errs            atomic.Int64
		firstErr        atomic.Value
		wg              sync.WaitGroup
		lat             = make([][]time.Duration, clients)
	)
	for i, c := range conns {
		lat[i] = make([]time.Duration, 0, 1<<14)
		wg.Go(func() {
			for !stop.Load() {
				start := time.Now()
				status, body, err := c.Do()
				el := time.Since(start)
				if err == nil && (status != 200 || !bytes.HasPrefix(body, okBody)) {
					err = fmt.Errorf("status %d: %.200s", status, body)
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err)
					return // the connection is unusable
				}
				if recording.Load() {
					lat[i] = append(lat[i], el)
				}
			}
		})
	}
	defer func() { stop.Store(true); wg.Wait() }()

	if !sleep(ctx, warm) {
		return loadResult{}, ctx.Err()
	}
	var before, mid, after probeSample
	var err error
	if d != nil {
		if before, err = d.sample(); err != nil {
			return loadResult{}, err
		}
	}
	recording.Store(true)
	t0 := time.Now()
	if !sleep(ctx, dur/2) {
		return loadResult{}, ctx.Err()
	}
	if d != nil {
		if mid, err = d.sample(); err != nil {
			return loadResult{}, err
		}
	}
	if !sleep(ctx, dur-dur/2) {
		return loadResult{}, ctx.Err()
	}
	recording.Store(false)
	elapsed := time.Since(t0)
	if d != nil {
		if after, err = d.sample(); err != nil {
			return loadResult{}, err
		}
	}
	stop.Store(true)
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		return loadResult{}, fmt.Errorf("%s, %d clients: %d requests failed, first: %v", t.name, clients, errs.Load(), e)
	}

	all := slices.Concat(lat...)
	slices.Sort(all)
	r := loadResult{
		Transport: t.name,
		Clients:   clients,
		Seconds:   elapsed.Seconds(),
		Requests:  int64(len(all)),
		Errors:    errs.Load(),
		RPS:       float64(len(all)) / elapsed.Seconds(),
		P50US:     us(quantile(all, 0.50)),
		P90US:     us(quantile(all, 0.90)),
		P99US:     us(quantile(all, 0.99)),
		MaxUS:     us(quantile(all, 1)),
	}
	if d != nil {
		if served := after.served - before.served; served > 0 {
			r.AllocsPerRequest = float64(after.allocs-before.allocs) / float64(served)
		}
		r.GoroutinesPeak = max(before.goroutines, mid.goroutines, after.goroutines)
		r.RSSPeakKB = max(before.rssKB, mid.rssKB, after.rssKB, d.rssPeakKB())
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
