// Command peer is what another user on the machine tries against tokend
// (TestOtherUser runs it under that user's uid): each attempt prints one
// JSON line with what came back. It is built by the test, not shipped.
//
//	peer socket PATH
//	peer tcp HOST:PORT CAPABILITY-ID
//	peer leaked METADATA-URL DATABRICKS-HOST IDENTITY-ENDPOINT CAPABILITY
//	                     use the owner's real capabilities, as copied from a
//	                     log or a ~/.databrickscfg
//	peer squat PATH      listen at PATH first (creating its directory) and
//	                     count what clients send, until stdin closes
//	peer flood HOST:PORT CAPABILITY-ID
//	                     hold 256 connections and send forged capabilities
//	                     as fast as it can, until stdin closes
//	peer memread SOCKET PROG [ARGS...]
//	                     start PROG (tokend serve), wait for SOCKET, and try
//	                     to read PROG's memory, and, to show that it could,
//	                     that of a child sleep
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

type attempt struct {
	Name   string `json:"name"`
	Status int    `json:"status"`
	Body   string `json:"body,omitempty"`
	Err    string `json:"err,omitempty"`
}

type request struct {
	name, method, path, body string
	header                   map[string]string
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: peer socket PATH | peer tcp HOST:PORT CAPABILITY-ID | peer squat PATH")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "squat":
		squat(os.Args[2])
		return
	case "memread":
		if len(os.Args) < 4 {
			os.Exit(2)
		}
		memread(os.Args[2], os.Args[3:])
		return
	case "flood":
		if len(os.Args) != 4 {
			os.Exit(2)
		}
		flood(os.Args[2], os.Args[3])
		return
	}
	var hc *http.Client
	var base string
	var reqs []request
	switch os.Args[1] {
	case "socket":
		path := os.Args[2]
		hc = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		}}}
		base = "http://tokend"
		reqs = []request{
			{name: "token", method: "GET", path: "/v1/token?profile=app"},
			{name: "default token", method: "GET", path: "/v1/token"},
			{name: "status", method: "GET", path: "/v1/status"},
			{name: "mint capability", method: "POST", path: "/v1/capabilities", body: `{"profile":"app"}`, header: map[string]string{"Content-Type": "application/json"}},
			{name: "refresh", method: "POST", path: "/v1/refresh", body: `{"profile":"app"}`, header: map[string]string{"Content-Type": "application/json"}},
		}
	case "tcp":
		if len(os.Args) != 4 {
			os.Exit(2)
		}
		base = "http://" + os.Args[2]
		hc = &http.Client{}
		forged := "tkd1." + os.Args[3] + "." + random()
		reqs = []request{
			{name: "token without capability", method: "GET", path: "/v1/token?profile=app"},
			{name: "token with a forged capability", method: "GET", path: "/v1/token?profile=app", header: map[string]string{"Authorization": "Bearer " + forged}},
			{name: "msi with a forged capability", method: "GET", path: "/msi/token?api-version=2019-08-01&resource=https://management.core.windows.net/", header: map[string]string{"X-IDENTITY-HEADER": forged}},
			{name: "databricks with a forged capability", method: "GET", path: "/databricks/" + forged, header: map[string]string{"X-Databricks-Metadata-Version": "1", "X-Databricks-Host": "https://adb-1.1.azuredatabricks.net"}},
			{name: "mint capability over TCP", method: "POST", path: "/v1/capabilities", body: `{"profile":"app"}`, header: map[string]string{"Content-Type": "application/json"}},
			{name: "status over TCP", method: "GET", path: "/v1/status"},
		}
	case "leaked":
		if len(os.Args) != 6 {
			os.Exit(2)
		}
		hc = &http.Client{}
		ms, host, ep, capability := os.Args[2], os.Args[3], os.Args[4], os.Args[5]
		base = ep[:strings.Index(ep[len("http://"):], "/")+len("http://")]
		msPath := ms[strings.Index(ms[len("http://"):], "/")+len("http://"):]
		reqs = []request{
			{name: "the metadata-service URL of a .databrickscfg", method: "GET", path: msPath, header: map[string]string{"X-Databricks-Metadata-Version": "1", "X-Databricks-Host": host}},
			{name: "msi with the real capability", method: "GET", path: "/msi/token?api-version=2019-08-01&resource=https://management.core.windows.net/", header: map[string]string{"X-IDENTITY-HEADER": capability}},
			{name: "token with the real capability", method: "GET", path: "/v1/token", header: map[string]string{"Authorization": "Bearer " + capability}},
		}
	default:
		os.Exit(2)
	}
	enc := json.NewEncoder(os.Stdout)
	for _, r := range reqs {
		enc.Encode(try(hc, base, r))
	}
}

func try(hc *http.Client, base string, r request) attempt {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.method, base+r.path, strings.NewReader(r.body))
	if err != nil {
		return attempt{Name: r.name, Err: err.Error()}
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return attempt{Name: r.name, Err: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return attempt{Name: r.name, Status: resp.StatusCode, Body: string(b)}
}

func random() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// squat listens at path before tokend does, as an attacker would, with
// the directory and socket open to everyone, and reads whatever clients
// send. It prints "ready", and when stdin closes, one JSON line:
// {"connections":N,"bytes":M}.
func squat(path string) {
	dir := path[:strings.LastIndex(path, "/")]
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fail(err)
	}
	os.Chmod(dir, 0o755)
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		fail(err)
	}
	os.Chmod(path, 0o777)
	var mu sync.Mutex
	var conns, total int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns++
			mu.Unlock()
			go func() {
				defer c.Close()
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				n, _ := io.Copy(io.Discard, c)
				mu.Lock()
				total += n
				mu.Unlock()
			}()
		}
	}()
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	ln.Close()
	time.Sleep(100 * time.Millisecond) // let readers in flight count
	mu.Lock()
	defer mu.Unlock()
	json.NewEncoder(os.Stdout).Encode(map[string]int64{"connections": conns, "bytes": total})
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "peer:", err)
	os.Exit(1)
}

// flood is another user trying to lock the owner out of tokend's TCP
// port: 256 connections held open (each reconnected when closed, one
// unauthenticated request on each), and 4 loops sending forged
// capabilities on new connections. When stdin closes it prints one JSON
// line of what happened.
func flood(addr, capID string) {
	stop := make(chan struct{})
	var mu sync.Mutex
	stats := map[string]int64{}
	count := func(k string) { mu.Lock(); stats[k]++; mu.Unlock() }
	var wg sync.WaitGroup
	for range 256 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					count("hold dial error")
					time.Sleep(10 * time.Millisecond)
					continue
				}
				count("held connections")
				fmt.Fprintf(c, "GET /v1/token HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
				done := make(chan struct{})
				go func() {
					select {
					case <-stop:
						c.Close()
					case <-done:
					}
				}()
				n, _ := io.Copy(io.Discard, c) // until the daemon closes it
				close(done)
				if n > 0 {
					count("held connections answered")
				}
				c.Close()
			}
		})
	}
	forged := "tkd1." + capID + "." + random()
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("GET", "http://"+addr+"/v1/token", nil)
				req.Header.Set("Authorization", "Bearer "+forged)
				resp, err := hc.Do(req)
				if err != nil {
					count("forged: no answer")
					continue
				}
				resp.Body.Close()
				count(fmt.Sprintf("forged: %d", resp.StatusCode))
			}
		})
	}
	fmt.Println("flooding")
	io.Copy(io.Discard, os.Stdin)
	close(stop)
	wg.Wait()
	json.NewEncoder(os.Stdout).Encode(stats)
}

// memread is a process of the daemon's own uid (not root) trying to read
// the daemon's memory through /proc/PID/mem, and the memory of a sleep of
// its own the same way. Both are its children (as a Yama ptrace scope of 1
// would require). It prints one JSON line.
func memread(sock string, argv []string) {
	d := exec.Command(argv[0], argv[1:]...)
	d.Stderr = os.Stderr
	if err := d.Start(); err != nil {
		fail(err)
	}
	defer func() { d.Process.Kill(); d.Wait() }()
	for i := 0; ; i++ {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		if i == 2000 {
			fail(fmt.Errorf("no daemon on %s", sock))
		}
		time.Sleep(10 * time.Millisecond)
	}
	sl := exec.Command("sleep", "60")
	if err := sl.Start(); err != nil {
		fail(err)
	}
	defer func() { sl.Process.Kill(); sl.Wait() }()
	out := map[string]any{"uid": os.Getuid(), "daemon_pid": d.Process.Pid}
	out["daemon"] = readMem(d.Process.Pid)
	out["control"] = readMem(sl.Process.Pid)
	json.NewEncoder(os.Stdout).Encode(out)
}

// readMem reads 16 bytes of process pid's memory, at the start of its
// first mapping (as /proc/PID/maps says, if readable; else of its stack),
// and says what happened: "read N bytes", or the error.
func readMem(pid int) string {
	f, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return "maps: " + err.Error()
	}
	start, _, _ := strings.Cut(string(maps), "-")
	addr, err := strconv.ParseInt(start, 16, 64)
	if err != nil {
		return "maps: " + err.Error()
	}
	buf := make([]byte, 16)
	n, err := f.ReadAt(buf, addr)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("read %d bytes", n)
}
