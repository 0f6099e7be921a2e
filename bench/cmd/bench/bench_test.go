package main

import (
	"strings"
	"testing"
	"time"
)

func TestScheduled(t *testing.T) {
	for _, tc := range []struct{ runs, rounds, warm int }{{300, 300, 20}, {30, 300, 20}, {7, 300, 20}, {1, 5, 3}, {5, 5, 0}} {
		n, warm := 0, 0
		for r := -tc.warm; r < tc.rounds; r++ {
			if scheduled(r, tc.runs, tc.rounds, tc.warm) {
				if r < 0 {
					warm++
				} else {
					n++
				}
			}
		}
		if n != tc.runs || warm != min(tc.warm, tc.runs) {
			t.Errorf("%+v: %d runs and %d warm-up runs", tc, n, warm)
		}
	}
}

func TestQuantileAndMedian(t *testing.T) {
	d := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if q := quantile(d, 0.5); q != 5 {
		t.Errorf("p50 = %d", q)
	}
	if q := quantile(d, 0.99); q != 10 {
		t.Errorf("p99 = %d", q)
	}
	if q := quantile(d, 0.9); q != 9 {
		t.Errorf("p90 = %d", q)
	}
	if m := median(d); m != 5 { // (5+6)/2 in integer nanoseconds
		t.Errorf("median = %d", m)
	}
	if m := median(d[:3]); m != 2 {
		t.Errorf("median of 3 = %d", m)
	}
}

func TestParseMetrics(t *testing.T) {
	m, err := parseMetrics(strings.NewReader(`# HELP x y
# TYPE tokend_tokens_served_total counter
tokend_tokens_served_total{profile="a"} 3
tokend_tokens_served_total{profile="b,c d"} 4
go_goroutines 12
go_memstats_mallocs_total 1.5e+06
`))
	if err != nil {
		t.Fatal(err)
	}
	if m["tokend_tokens_served_total"] != 7 || m["go_goroutines"] != 12 || m["go_memstats_mallocs_total"] != 1500000 {
		t.Fatalf("%v", m)
	}
	if _, err := parseMetrics(strings.NewReader("garbage\n")); err == nil {
		t.Fatal("no error for a line without a value")
	}
}

func TestParseGoBench(t *testing.T) {
	b := parseGoBench(strings.NewReader(`goos: linux
BenchmarkServeToken/socket-2         	  338586	     11918 ns/op	    3089 B/op	      28 allocs/op
PASS
`))
	if len(b) != 1 || b[0].Name != "BenchmarkServeToken/socket-2" || b[0].NsPerOp != 11918 || b[0].BytesPerOp != 3089 || b[0].AllocsPerOp != 28 {
		t.Fatalf("%+v", b)
	}
}

// TestTargets: the report holds the figures to the targets, and a figure
// over a limit shows as a miss.
func TestTargets(t *testing.T) {
	good := report{
		CLI: cliRun{Commands: []cliResult{{Name: "token get", MedianMS: 1.2}, {Name: "floor", MedianMS: 1.0}, {Name: "az", MedianMS: 300}}},
		Daemon: runResult{
			Idle: idleResult{RSSKB: 18000},
			Load: []loadResult{{Transport: "socket", Clients: 64, RPS: 90000, P99US: 1800}, {Transport: "tcp", Clients: 64, RPS: 70000, P99US: 1900}},
			Paced: []loadResult{{Transport: "socket", Clients: 64, Offered: 40000, RPS: 40000, P99US: 500},
				{Transport: "tcp", Clients: 64, Offered: 40000, RPS: 39990, P99US: 900}},
			FanIn: faninResult{Callers: 1000, OK: 1000, SameToken: true, Fresh: true, IdPCalls: 1},
		},
	}
	good.check()
	for _, l := range good.Targets {
		if !l.OK {
			t.Errorf("miss: %+v", l)
		}
	}
	if len(good.Targets) != 9 {
		t.Errorf("%d targets", len(good.Targets))
	}

	bad := good
	bad.Targets = nil
	bad.CLI.Commands = []cliResult{{Name: "token get", MedianMS: 1.4}, {Name: "floor", MedianMS: 1.0}}
	bad.Daemon.FanIn.IdPCalls = 2
	bad.Daemon.Idle.RSSKB = 30000
	bad.check()
	misses := map[string]bool{}
	for _, l := range bad.Targets {
		if !l.OK {
			misses[strings.Fields(l.What)[0]] = true
		}
	}
	for _, want := range []string{"`token", "daemon", "refresh"} {
		if !misses[want] {
			t.Errorf("no miss for %q: %+v", want, bad.Targets)
		}
	}
}
