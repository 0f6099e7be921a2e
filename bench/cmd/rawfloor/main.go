// Command rawfloor is the barest way to get a token from tokend: one GET
// written as bytes on the daemon's socket (the first argument), the answer
// copied out as it comes, no HTTP library at all. `make bench` shows it
// next to `token get` to say what net/http itself costs.
package main

import (
	"io"
	"net"
	"os"
)

func main() {
	c, err := net.Dial("unix", os.Args[1])
	if err != nil {
		os.Exit(1)
	}
	io.WriteString(c, "GET /v1/token?profile="+os.Args[2]+" HTTP/1.1\r\nHost: tokend\r\nConnection: close\r\n\r\n")
	if n, _ := io.Copy(os.Stdout, c); n == 0 {
		os.Exit(1)
	}
}
