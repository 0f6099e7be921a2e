// Command floor is the yardstick of `token get`: a minimal Go program that
// gets a token from tokend with one HTTP GET (net/http's client) over the
// daemon's socket (the first argument) and prints the answer as it came.
// `make bench` holds the wall time of `token get` to it.
package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
)

func main() {
	socket, profile := os.Args[1], os.Args[2]
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
	resp, err := hc.Get("http://tokend/v1/token?profile=" + profile)
	if err != nil || resp.StatusCode != http.StatusOK {
		os.Exit(1)
	}
	io.Copy(os.Stdout, resp.Body)
}
