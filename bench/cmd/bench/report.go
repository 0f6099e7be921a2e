package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// report is everything `make bench` measured, as written to JSON.
type report struct {
	When    time.Time    `json:"when"`
	Commit  string       `json:"commit"`
	Machine machine      `json:"machine"`
	Setup   setup        `json:"setup"`
	CLI     cliRun       `json:"cli"`
	Ratios  ratios       `json:"ratios"`
	Daemon  runResult    `json:"daemon"`
	Quiet   *runResult   `json:"quiet,omitempty"` // the same daemon at --log-level warn: no audit lines
	GoBench []goBench    `json:"go_bench"`
	Targets []targetLine `json:"targets"`
}

type machine struct {
	CPU      string  `json:"cpu"`
	CPUs     int     `json:"cpus"`
	Kernel   string  `json:"kernel"`
	Go       string  `json:"go"`
	AzureCLI string  `json:"azure_cli,omitempty"`
	LoadAvg  float64 `json:"load_avg_1m"` // when the report was written
}

type setup struct {
	DaemonCPUs string `json:"daemon_cpus"`
	LoadCPUs   string `json:"load_cpus"`
	LogLevel   string `json:"log_level"`
	Note       string `json:"note,omitempty"`
}

type ratios struct {
	TokenOverFloor  float64 `json:"token_get_over_floor"`
	AzOverToken     float64 `json:"az_over_token_get,omitempty"`
	TCPOverSocket64 float64 `json:"tcp_over_socket_64_clients"`
}

type goBench struct {
	Name        string  `json:"name"`
	NsPerOp     float64 `json:"ns_per_op"`
	BytesPerOp  float64 `json:"bytes_per_op"`
	AllocsPerOp float64 `json:"allocs_per_op"`
}

type targetLine struct {
	What  string `json:"what"`
	Got   string `json:"got"`
	Want  string `json:"want"`
	OK    bool   `json:"ok"`
	Known bool   `json:"measured"`
}

func cmdReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	cliFile := fs.String("cli", "", "JSON of bench cli")
	runFile := fs.String("run", "", "JSON of bench run")
	quietFile := fs.String("quiet", "", "JSON of bench run against the daemon at --log-level warn (optional)")
	goFile := fs.String("gobench", "", "output of go test -bench (optional)")
	commit := fs.String("commit", "", "commit measured")
	az := fs.String("azure-cli", "", "Azure CLI version, if it ran")
	daemonCPUs := fs.String("daemon-cpus", "", "CPUs the daemon was pinned to")
	loadCPUs := fs.String("load-cpus", "", "CPUs the load generator was pinned to")
	logLevel := fs.String("log-level", "info", "the daemon's log level in -run")
	note := fs.String("note", "", "a line about the setup")
	out := fs.String("out", "", "write the whole report as JSON here")
	md := fs.String("markdown", "", "write the table as Markdown here")
	strict := fs.Bool("strict", false, "fail when a measured figure misses its target")
	from := fs.String("from", "", "render a report written before (its JSON) instead of measurements")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from != "" {
		var r report
		if err := readJSONFile(*from, &r); err != nil {
			return err
		}
		return r.render(os.Stdout, *md, "", false)
	}
	r := report{
		When:   time.Now().UTC().Truncate(time.Second),
		Commit: *commit,
		Machine: machine{
			CPU: cpuModel(), CPUs: runtime.NumCPU(), Kernel: readTrim("/proc/sys/kernel/osrelease"),
			Go: runtime.Version(), AzureCLI: *az, LoadAvg: loadAvg(),
		},
		Setup: setup{DaemonCPUs: *daemonCPUs, LoadCPUs: *loadCPUs, LogLevel: *logLevel, Note: *note},
	}
	if err := readJSONFile(*cliFile, &r.CLI); err != nil {
		return err
	}
	if err := readJSONFile(*runFile, &r.Daemon); err != nil {
		return err
	}
	if *quietFile != "" {
		r.Quiet = new(runResult)
		if err := readJSONFile(*quietFile, r.Quiet); err != nil {
			return err
		}
	}
	if *goFile != "" {
		f, err := os.Open(*goFile)
		if err != nil {
			return err
		}
		r.GoBench = parseGoBench(f)
		f.Close()
	}
	r.check()
	return r.render(os.Stdout, *md, *out, *strict)
}

// render prints the table on w and writes the Markdown and JSON files that
// are named; strict fails when a measured figure missed its target.
func (r *report) render(w io.Writer, md, out string, strict bool) error {
	r.text(w)
	if md != "" {
		f, err := os.Create(md)
		if err != nil {
			return err
		}
		r.markdown(f)
		if err := f.Close(); err != nil {
			return err
		}
	}
	if err := writeJSONFile(out, r); err != nil {
		return err
	}
	if strict {
		for _, t := range r.Targets {
			if t.Known && !t.OK {
				return fmt.Errorf("targets missed (-strict)")
			}
		}
	}
	return nil
}

func (r *report) cli(name string) *cliResult {
	for i := range r.CLI.Commands {
		if r.CLI.Commands[i].Name == name {
			return &r.CLI.Commands[i]
		}
	}
	return nil
}

func load(rs []loadResult, transport string, clients int) *loadResult {
	for i := range rs {
		if rs[i].Transport == transport && rs[i].Clients == clients {
			return &rs[i]
		}
	}
	return nil
}

// check computes the ratios and holds the figures to the targets of
// issue 9.
func (r *report) check() {
	add := func(what, want string, known, ok bool, got string) {
		r.Targets = append(r.Targets, targetLine{What: what, Got: got, Want: want, OK: known && ok, Known: known})
	}
	tok, floor, az := r.cli("token get"), r.cli("floor"), r.cli("az")
	if tok != nil && floor != nil {
		r.Ratios.TokenOverFloor = tok.MedianMS / floor.MedianMS
	}
	add("`token get` median vs the floor program (one GET, net/http)", "≤ 1.3×", tok != nil && floor != nil,
		r.Ratios.TokenOverFloor <= 1.3, fmt.Sprintf("%.2f×", r.Ratios.TokenOverFloor))
	if tok != nil && az != nil {
		r.Ratios.AzOverToken = az.MedianMS / tok.MedianMS
	}
	add("`token get` vs cached `az account get-access-token`", "≥ 100× faster", r.Ratios.AzOverToken > 0,
		r.Ratios.AzOverToken >= 100, fmt.Sprintf("%.0f× faster", r.Ratios.AzOverToken))

	loadTargets := func(run *runResult, how string) {
		s64, t64 := load(run.Load, "socket", 64), load(run.Load, "tcp", 64)
		if s64 != nil {
			add("socket, 64 clients, closed loop: throughput"+how, "≥ 40000 req/s", true, s64.RPS >= 40000, fmt.Sprintf("%.0f req/s", s64.RPS))
			add("socket, 64 clients, closed loop: p99"+how, "≤ 2 ms", true, s64.P99US <= 2000, fmt.Sprintf("%.2f ms", s64.P99US/1000))
		}
		if p := load(run.Paced, "socket", 64); p != nil {
			add(fmt.Sprintf("socket, 64 clients, %.0f req/s offered: p99%s", p.Offered, how), "≤ 2 ms", true,
				p.P99US <= 2000 && p.RPS >= 0.99*p.Offered, fmt.Sprintf("%.2f ms at %.0f req/s", p.P99US/1000, p.RPS))
		}
		if s64 != nil && t64 != nil {
			ratio := t64.RPS / s64.RPS
			if run == &r.Daemon {
				r.Ratios.TCPOverSocket64 = ratio
			}
			add("TCP vs socket throughput, 64 clients"+how, "within 30% (≥ 0.70×)", true, ratio >= 0.7,
				fmt.Sprintf("%.2f× (%.0f req/s)", ratio, t64.RPS))
		}
		if p := load(run.Paced, "tcp", 64); p != nil {
			add(fmt.Sprintf("TCP, 64 clients, %.0f req/s offered: p99%s", p.Offered, how), "≤ 2 ms", true,
				p.P99US <= 2000 && p.RPS >= 0.99*p.Offered, fmt.Sprintf("%.2f ms at %.0f req/s", p.P99US/1000, p.RPS))
		}
	}
	loadTargets(&r.Daemon, "")
	if r.Quiet != nil {
		loadTargets(r.Quiet, " [--log-level warn]")
	}
	add("daemon RSS, idle", "≤ 20 MB", r.Daemon.Idle.RSSKB > 0, r.Daemon.Idle.RSSKB <= 20*1024,
		fmt.Sprintf("%.1f MB", float64(r.Daemon.Idle.RSSKB)/1024))
	f := r.Daemon.FanIn
	add(fmt.Sprintf("refresh fan-in: %d callers on a stale token", f.Callers), "1 identity-provider call",
		f.Callers > 0, f.IdPCalls == 1 && f.OK == f.Callers && f.SameToken && f.Fresh,
		fmt.Sprintf("%d call(s), %d/%d answered, same fresh token: %v", f.IdPCalls, f.OK, f.Callers, f.SameToken && f.Fresh))
}

func (r *report) headline() string {
	return fmt.Sprintf("%s, %d CPUs, Linux %s, %s; commit %s; %s", r.Machine.CPU, r.Machine.CPUs, r.Machine.Kernel,
		r.Machine.Go, r.Commit, r.When.Format("2006-01-02 15:04 UTC"))
}

var cliLabels = map[string]string{
	"token get": "`token get demo`",
	"floor":     "floor: one GET with net/http",
	"raw floor": "one GET as raw bytes, no HTTP library",
	"az":        "`az account get-access-token` (cached)",
}

func (r *report) text(w io.Writer) {
	fmt.Fprintf(w, "\ntokend bench: %s\n", r.headline())
	if r.Machine.AzureCLI != "" {
		fmt.Fprintf(w, "Azure CLI %s against the same emulator\n", r.Machine.AzureCLI)
	}
	fmt.Fprintf(w, "\nWhole process, wall time (commands interleaved):\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tmedian ms\tp90 ms\truns\t")
	for _, c := range r.CLI.Commands {
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%d\t\n", label(c.Name), c.MedianMS, c.P90MS, c.Runs)
	}
	tw.Flush()
	fmt.Fprintf(w, "token get / floor = %.2f; az / token get = %.0f (other processes: %.0f%% of the CPU meanwhile)\n",
		r.Ratios.TokenOverFloor, r.Ratios.AzOverToken, 100*r.CLI.OtherCPU)

	fmt.Fprintf(w, "\nDaemon, GET /v1/token of a cached token (daemon on CPU %s, load generator on CPU %s, log level %s):\n",
		r.Setup.DaemonCPUs, r.Setup.LoadCPUs, r.Setup.LogLevel)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "listener\tclients\tload\treq/s\tp50 µs\tp99 µs\tmax µs\tallocs/req\tgoroutines\tRSS MB\tother CPU\t")
	rows := func(rs []loadResult, suffix string) {
		for _, l := range rs {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%.0f\t%.0f\t%.0f\t%.0f\t%.1f\t%d\t%.1f\t%.0f%%\t\n", l.Transport+suffix, l.Clients, loadMode(l),
				l.RPS, l.P50US, l.P99US, l.MaxUS, l.AllocsPerRequest, l.GoroutinesPeak, float64(l.RSSPeakKB)/1024, 100*l.OtherCPU)
		}
	}
	rows(r.Daemon.Load, "")
	rows(r.Daemon.Paced, "")
	if r.Quiet != nil {
		rows(r.Quiet.Load, " (warn)")
		rows(r.Quiet.Paced, " (warn)")
	}
	tw.Flush()
	i, f := r.Daemon.Idle, r.Daemon.FanIn
	fmt.Fprintf(w, "Idle: RSS %.1f MB, %d goroutines, %d threads.\n", float64(i.RSSKB)/1024, i.Goroutines, i.Threads)
	fmt.Fprintf(w, "Fan-in: %d callers at once on a stale token: %d identity-provider call(s), %d waited on it, %d answered with the same fresh token: %v (%.0f ms, the emulator holding the refresh %d ms).\n",
		f.Callers, f.IdPCalls, f.Waited, f.OK, f.SameToken && f.Fresh, f.WallMS, f.IdPDelayMS)
	if len(r.GoBench) > 0 {
		fmt.Fprintf(w, "\nServer side alone (go test -bench ServeToken ./daemon, client allocating nothing):\n")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "\tns/op\tB/op\tallocs/op\t")
		for _, b := range r.GoBench {
			fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.0f\t\n", b.Name, b.NsPerOp, b.BytesPerOp, b.AllocsPerOp)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\nTargets (issue 9):\n")
	for _, t := range r.Targets {
		fmt.Fprintf(w, "  %-4s %s: %s (want %s)\n", mark(t), t.What, t.Got, t.Want)
	}
}

func (r *report) markdown(w io.Writer) {
	fmt.Fprintf(w, "Measured with `make bench` on %s.\n\n", r.headline())
	fmt.Fprintln(w, "| whole process, wall time | median | p90 | runs |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: |")
	for _, c := range r.CLI.Commands {
		fmt.Fprintf(w, "| %s | %s | %s | %d |\n", label(c.Name), ms(c.MedianMS), ms(c.P90MS), c.Runs)
	}
	fmt.Fprintf(w, "\n`token get` takes %.2f× the floor program's time; cached `az account get-access-token` takes %.0f× `token get`'s.\n\n",
		r.Ratios.TokenOverFloor, r.Ratios.AzOverToken)
	fmt.Fprintf(w, "GET /v1/token of a cached token, daemon on CPU %s and load generator on CPU %s, connections kept open; "+
		"closed loop: each client asks again as soon as it has its answer; offered: the clients together ask at a fixed rate. "+
		"The daemon logs at level %s", r.Setup.DaemonCPUs, r.Setup.LoadCPUs, r.Setup.LogLevel)
	if r.Setup.LogLevel == "info" {
		fmt.Fprint(w, " (as installed: an audit line per token served)")
	}
	fmt.Fprint(w, ":\n\n")
	fmt.Fprintln(w, "| listener | clients | load | req/s | p50 | p99 | allocs/req |")
	fmt.Fprintln(w, "| --- | ---: | --- | ---: | ---: | ---: | ---: |")
	rows := func(rs []loadResult, suffix string) {
		for _, l := range rs {
			fmt.Fprintf(w, "| %s | %d | %s | %.0f | %.0f µs | %.0f µs | %.0f |\n", l.Transport+suffix, l.Clients, loadMode(l), l.RPS, l.P50US, l.P99US, l.AllocsPerRequest)
		}
	}
	rows(r.Daemon.Load, "")
	rows(r.Daemon.Paced, "")
	if r.Quiet != nil {
		rows(r.Quiet.Load, " (level warn: no audit lines)")
		rows(r.Quiet.Paced, " (level warn: no audit lines)")
	}
	i, f := r.Daemon.Idle, r.Daemon.FanIn
	fmt.Fprintf(w, "\nIdle daemon: %.1f MB resident, %d goroutines. Refresh fan-in: %d callers at once on a stale token made %d identity-provider call(s) and all got the same fresh token.\n",
		float64(i.RSSKB)/1024, i.Goroutines, f.Callers, f.IdPCalls)
}

func label(name string) string {
	if l, ok := cliLabels[name]; ok {
		return l
	}
	return name
}

func loadMode(l loadResult) string {
	if l.Offered > 0 {
		return fmt.Sprintf("%.0f req/s offered", l.Offered)
	}
	return "closed loop"
}

func ms(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f ms", v)
	}
	return fmt.Sprintf("%.2f ms", v)
}

func mark(t targetLine) string {
	switch {
	case !t.Known:
		return "n/a"
	case t.OK:
		return "ok"
	}
	return "MISS"
}

// parseGoBench reads the result lines of go test -bench -benchmem.
func parseGoBench(r io.Reader) []goBench {
	var out []goBench
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		b := goBench{Name: f[0]}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				b.NsPerOp = v
			case "B/op":
				b.BytesPerOp = v
			case "allocs/op":
				b.AllocsPerOp = v
			}
		}
		out = append(out, b)
	}
	return out
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

func loadAvg() float64 {
	f := strings.Fields(readTrim("/proc/loadavg"))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
