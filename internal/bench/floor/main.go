// Command floor is the yardstick of `token get`: the least a Go program can
// do to get a token from tokend, one HTTP GET over the daemon's socket
// ($TOKEND_SOCKET) with net/http, printing the answer as it came. `make
// bench` compares the wall time of `token get` with it.
package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
)

func main() {
	socket := os.Getenv("TOKEND_SOCKET")
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
	resp, err := hc.Get("http://tokend/v1/token?profile=" + os.Args[1])
	if err != nil || resp.StatusCode != http.StatusOK {
		os.Exit(1)
	}
	io.Copy(os.Stdout, resp.Body)
}
