package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// daemonProbe reads what the daemon says about itself: its process's
// memory in /proc (Linux), and goroutines, heap allocations and tokens
// served from its GET /v1/metrics (over the socket). A background sampler
// keeps the peak resident set size.
type daemonProbe struct {
	pid int
	hc  *http.Client

	mu   sync.Mutex
	peak int64
}

type probeSample struct {
	rssKB      int64
	goroutines int64
	allocs     int64 // heap objects allocated since start
	served     int64 // tokens served since start, all profiles
}

func newProbe(socket string, pid int) *daemonProbe {
	return &daemonProbe{pid: pid, hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}}
}

func (d *daemonProbe) sample() (probeSample, error) {
	var s probeSample
	var err error
	if s.rssKB, err = d.rss(); err != nil {
		return s, err
	}
	m, err := d.metrics()
	if err != nil {
		return s, err
	}
	var ok bool
	if s.goroutines, ok = m["go_goroutines"]; !ok {
		return s, fmt.Errorf("GET /v1/metrics has no go_goroutines")
	}
	s.allocs, s.served = m["go_memstats_mallocs_total"], m["tokend_tokens_served_total"]
	return s, nil
}

// metrics scrapes GET /v1/metrics: every sample, summed over labels.
func (d *daemonProbe) metrics() (map[string]int64, error) {
	resp, err := d.hc.Get("http://tokend/v1/metrics")
	if err != nil {
		return nil, fmt.Errorf("scrape metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("scrape metrics: HTTP %d", resp.StatusCode)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics reads Prometheus text exposition, summing each metric's
// samples over their labels.
func parseMetrics(r io.Reader) (map[string]int64, error) {
	m := map[string]int64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("metrics: bad line %q", line)
		}
		name := line[:i]
		if j := strings.IndexByte(name, '{'); j >= 0 {
			name = name[:j]
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics: bad value in %q", line)
		}
		m[name] += int64(v)
	}
	return m, sc.Err()
}

// rss is the daemon's resident set size in KiB.
func (d *daemonProbe) rss() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.pid))
	if err != nil {
		return 0, fmt.Errorf("daemon memory: %w", err)
	}
	kb := statusField(b, "VmRSS")
	d.mu.Lock()
	d.peak = max(d.peak, kb)
	d.mu.Unlock()
	return kb, nil
}

// statusField reads a "Name:   123 kB" line of /proc/PID/status.
func statusField(status []byte, name string) int64 {
	for line := range bytes.Lines(status) {
		if v, ok := bytes.CutPrefix(line, []byte(name+":")); ok {
			f := bytes.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(string(f[0]), 10, 64)
				return n
			}
		}
	}
	return 0
}

// watchRSS samples the resident set size every 50 ms until ctx ends.
func (d *daemonProbe) watchRSS(ctx context.Context) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			d.rss()
		case <-ctx.Done():
			return
		}
	}
}

// rssPeakKB is the largest resident set size seen since the last call.
func (d *daemonProbe) rssPeakKB() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.peak
	d.peak = 0
	return p
}

// threads is the daemon's number of OS threads.
func (d *daemonProbe) threads() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.pid))
	if err != nil {
		return 0
	}
	return statusField(b, "Threads")
}

// cpuMeter tells how much of the machine's CPU went to processes other
// than the daemon and the load generator: load from elsewhere (another
// build, a test suite) makes a run's latencies say little about tokend.
type cpuMeter struct {
	pid           int
	machine, ours int64 // jiffies busy: all CPUs, the daemon and this process
	machineAll    int64 // jiffies in all, busy or not, of all CPUs
}

func newCPUMeter(pid int) *cpuMeter {
	m := &cpuMeter{pid: pid}
	m.machine, m.machineAll, m.ours = m.read()
	return m
}

// otherShare is the share of the machine's CPU time (0–1) since newCPUMeter
// that went to other processes.
func (m *cpuMeter) otherShare() float64 {
	busy, all, ours := m.read()
	if all-m.machineAll <= 0 {
		return 0
	}
	other := float64((busy-m.machine)-(ours-m.ours)) / float64(all-m.machineAll)
	return max(other, 0)
}

// read returns the machine's busy and total jiffies (/proc/stat) and the
// daemon's plus this process's (/proc/PID/stat utime+stime).
func (m *cpuMeter) read() (busy, all, ours int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, 0
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	for i := 1; i < len(f) && i <= 8; i++ {
		v, _ := strconv.ParseInt(string(f[i]), 10, 64)
		all += v
		if i != 4 && i != 5 { // idle, iowait
			busy += v
		}
	}
	return busy, all, procJiffies(m.pid) + procJiffies(os.Getpid())
}

func procJiffies(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces: fields count from after its ")".
	if i := bytes.LastIndexByte(b, ')'); i >= 0 {
		b = b[i+1:]
	}
	f := bytes.Fields(b) // state ppid ... utime(12) stime(13), counted from state = 0
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(string(f[11]), 10, 64)
	s, _ := strconv.ParseInt(string(f[12]), 10, 64)
	return u + s
}
