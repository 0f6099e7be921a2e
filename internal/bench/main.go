// Command bench measures a running tokend for `make bench`
// (scripts/bench.sh starts the daemon, the emulator and the Azure CLI, and
// times whole processes with hyperfine):
//
//	go run ./internal/bench run -socket S -pid PID -emulator URL -ca CA.pem -out run.json
//	go run ./internal/bench report -cli hyperfine.json -run run.json -gobench go.txt -out latest.json
//
// run loads GET /v1/token over the socket and over TCP at each number of
// concurrent clients, each run bounded by -duration, through keep-alive
// connections that allocate nothing per request; it reads the daemon's
// memory from /proc (Linux) and its goroutines and allocations from
// GET /v1/metrics; then it checks refresh fan-in: -fanin callers at once
// on a stale token, and how many requests reached the emulator. It talks
// to nothing but the daemon's socket, its loopback TCP port and the
// emulator. report turns the pieces into a table, checks the targets, and
// writes them all as one JSON document to compare across commits.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/tokend/tokend/client"
	"github.com/tokend/tokend/internal/bench/rawhttp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench run|cli|report [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = cmdRun(ctx, os.Args[2:])
	case "cli":
		err = cmdCLI(os.Args[2:])
	case "report":
		err = cmdReport(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (want run, cli or report)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// runResult is what `bench run` measures.
type runResult struct {
	Idle  idleResult   `json:"idle"`
	Load  []loadResult `json:"load"`
	FanIn faninResult  `json:"fanin"`
}

type idleResult struct {
	RSSKB      int64 `json:"rss_kb"`
	Goroutines int64 `json:"goroutines"`
	Threads    int64 `json:"threads"`
}

func cmdRun(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	socket := fs.String("socket", os.Getenv("TOKEND_SOCKET"), "daemon socket")
	pid := fs.Int("pid", 0, "daemon process id (for its memory)")
	profile := fs.String("profile", "demo", "profile to ask for")
	clients := fs.String("clients", "1,16,64,256", "concurrent clients, comma-separated")
	dur := fs.Duration("duration", 3*time.Second, "measured time per run")
	warm := fs.Duration("warmup", 500*time.Millisecond, "unmeasured time before each run")
	emURL := fs.String("emulator", "", "emulator base URL (https://127.0.0.1:PORT), for the fan-in check")
	ca := fs.String("ca", "", "emulator CA file")
	nfan := fs.Int("fanin", 1000, "callers of the fan-in check (0: skip)")
	delay := fs.Duration("fanin-delay", 300*time.Millisecond, "how long the emulator holds the one refresh")
	out := fs.String("out", "", "write the result as JSON here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *pid == 0 || *socket == "" {
		return errors.New("run needs -pid and -socket")
	}
	var levels []int
	for f := range strings.SplitSeq(*clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 1000 {
			return fmt.Errorf("-clients: %q is not a number from 1 to 1000", f)
		}
		levels = append(levels, n)
	}

	c := client.New(*socket)
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	path := "/v1/token?profile=" + *profile
	targets := []target{{
		name: "socket",
		dial: func() (net.Conn, error) { return net.Dial("unix", *socket) },
		req:  rawhttp.Request("tokend", path),
	}}
	if addr := st.Listeners.TCP; addr != "" {
		cp, err := c.CreateCapability(ctx, client.CapabilityRequest{Profile: *profile, TTLSeconds: 3600})
		if err != nil {
			return err
		}
		defer c.RevokeCapability(context.Background(), cp.ID)
		targets = append(targets, target{
			name: "tcp",
			dial: func() (net.Conn, error) { return net.Dial("tcp", addr) },
			req:  rawhttp.Request(addr, path, "Authorization: Bearer "+cp.Token),
		})
	} else {
		fmt.Fprintln(os.Stderr, "bench: the daemon has no TCP listener; loading the socket only")
	}

	probe := newProbe(*socket, *pid)
	var res runResult
	if _, err := c.Token(ctx, client.TokenRequest{Profile: *profile}); err != nil {
		return err
	}
	idle, err := probe.sample()
	if err != nil {
		return err
	}
	res.Idle = idleResult{RSSKB: idle.rssKB, Goroutines: idle.goroutines, Threads: probe.threads()}
	fmt.Fprintf(os.Stderr, "idle: RSS %d KiB, %d goroutines, %d threads\n", res.Idle.RSSKB, res.Idle.Goroutines, res.Idle.Threads)

	watchCtx, stopWatch := context.WithCancel(ctx)
	go probe.watchRSS(watchCtx)
	for _, t := range targets {
		for _, n := range levels {
			probe.rssPeakKB() // reset
			r, err := runLoad(ctx, t, n, *warm, *dur, probe)
			if err != nil {
				stopWatch()
				return err
			}
			fmt.Fprintf(os.Stderr, "%-6s %3d clients: %8.0f req/s  p50 %6.0f µs  p99 %6.0f µs  %5.1f allocs/req  %4d goroutines  RSS %d KiB\n",
				r.Transport, r.Clients, r.RPS, r.P50US, r.P99US, r.AllocsPerRequest, r.GoroutinesPeak, r.RSSPeakKB)
			res.Load = append(res.Load, r)
		}
	}
	stopWatch()

	if *nfan > 0 {
		if *emURL == "" || *ca == "" {
			return errors.New("the fan-in check needs -emulator and -ca (or -fanin 0)")
		}
		em, err := newEmulatorAdmin(*emURL, *ca)
		if err != nil {
			return err
		}
		if res.FanIn, err = fanin(ctx, *socket, *profile, em, probe, *nfan, *delay); err != nil {
			return fmt.Errorf("fan-in: %w", err)
		}
		f := res.FanIn
		fmt.Fprintf(os.Stderr, "fan-in: %d callers, %d answered, same token %v, %d identity-provider calls, %d waited, %.0f ms\n",
			f.Callers, f.OK, f.SameToken, f.IdPCalls, f.Waited, f.WallMS)
	}
	return writeJSONFile(*out, res)
}

func writeJSONFile(path string, v any) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func readJSONFile(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
