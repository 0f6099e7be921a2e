package rawhttp

import (
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		status   int
		body     string
		err      string
	}{
		{name: "length", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\nhello", status: 200, body: "hello"},
		{name: "chunked", in: "HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n", status: 404, body: "abcde"},
		{name: "closing", in: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", status: 200, err: "server closed the connection"},
		{name: "status without reason", in: "HTTP/1.1 204\r\nContent-Length: 0\r\n\r\n", status: 204},
		{name: "bad status", in: "HTTP/1.0 200 OK\r\n\r\n", err: "bad status line"},
		{name: "bad length", in: "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", err: "bad Content-Length"},
		{name: "no framing", in: "HTTP/1.1 200 OK\r\n\r\nabc", err: "without Content-Length"},
		{name: "bad chunk", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", err: "bad chunk size"},
		{name: "chunk without CRLF", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", err: "chunk not followed by CRLF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, status, body, err := Parse([]byte(tc.in), nil)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				if !errors.Is(err, ErrClosed) {
					return
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if n != len(tc.in) || status != tc.status || string(body) != tc.body {
				t.Fatalf("got n %d status %d body %q, want %d %d %q", n, status, body, len(tc.in), tc.status, tc.body)
			}
			// Every proper prefix is incomplete, never an error.
			for i := range len(tc.in) {
				if n, _, _, err := Parse([]byte(tc.in[:i]), nil); n != 0 || err != nil {
					t.Fatalf("prefix %d: n %d, err %v", i, n, err)
				}
			}
		})
	}
}

// TestConnAgainstNetHTTP reads answers of a net/http server, framed by
// Content-Length and chunked, many times over one connection.
func TestConnAgainstNetHTTP(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("0123456789", 1000) // over net/http's buffer: chunked
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Write([]byte(big))
			return
		}
		w.Write([]byte(`{"access_token":"x"}`))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	for _, tc := range []struct{ path, want string }{{"/small", `{"access_token":"x"}`}, {"/big", big}} {
		nc, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		c := NewConn(nc, Request("tokend", tc.path))
		for range 3 {
			status, body, err := c.Do()
			if err != nil || status != 200 || string(body) != tc.want {
				t.Fatalf("%s: status %d, err %v, body %d bytes", tc.path, status, err, len(body))
			}
		}
		c.Close()
	}
}
