// Package rawhttp is the load generator's HTTP/1.1 client: one keep-alive
// connection that sends the same request over and over and reads the
// answers without allocating, so that a benchmark measures the daemon
// rather than its client (as wrk does). It speaks only what tokend answers:
// a status line, headers, and a body framed by Content-Length or chunked
// encoding. It is benchmark tooling, not an API: it would be in
// bench/internal/ if daemon's ServeToken benchmark did not import it too.
package rawhttp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
)

// maxHead bounds the status line and headers of an answer.
const maxHead = 16 << 10

// ErrClosed is returned, with the answer, when the server said it closes
// the connection.
var ErrClosed = errors.New("server closed the connection")

// Request builds the bytes of GET target on host, with extra header lines
// ("Name: value").
func Request(host, target string, header ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\n", target, host)
	for _, h := range header {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// Conn is one keep-alive connection sending one request.
type Conn struct {
	net.Conn
	req  []byte
	buf  []byte // what was read of the answer
	body []byte
}

// NewConn sends req (see Request) on c at each Do.
func NewConn(c net.Conn, req []byte) *Conn {
	return &Conn{Conn: c, req: req, buf: make([]byte, 0, 16<<10), body: make([]byte, 0, 8<<10)}
}

// Do sends the request and reads the answer. The body is valid until the
// next call.
func (c *Conn) Do() (status int, body []byte, err error) {
	if _, err := c.Conn.Write(c.req); err != nil {
		return 0, nil, err
	}
	c.buf = c.buf[:0]
	for {
		if len(c.buf) == cap(c.buf) {
			c.buf = append(c.buf, 0)[:len(c.buf)]
		}
		n, rerr := c.Conn.Read(c.buf[len(c.buf):cap(c.buf)])
		c.buf = c.buf[:len(c.buf)+n]
		m, status, body, err := Parse(c.buf, c.body[:0])
		switch {
		case m > 0 && m != len(c.buf):
			return 0, nil, errors.New("bytes after the answer")
		case m > 0 || err != nil:
			if body != nil {
				c.body = body[:0]
			}
			return status, body, err
		case rerr == io.EOF:
			return 0, nil, io.ErrUnexpectedEOF
		case rerr != nil:
			return 0, nil, rerr
		}
	}
}

// Parse reads one HTTP/1.1 answer at the start of b, appending its body to
// dst. It returns n = 0 and no error while b holds only part of it, else
// the answer's length in b. A complete answer that closes the connection
// comes with ErrClosed.
func Parse(b, dst []byte) (n, status int, body []byte, err error) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		if len(b) > maxHead {
			return 0, 0, nil, errors.New("answer header too long")
		}
		return 0, 0, nil, nil
	}
	head, rest := b[:end+2], b[end+4:]
	line, head, _ := bytes.Cut(head, []byte("\r\n"))
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) || (len(line) > 12 && line[12] != ' ') {
		return 0, 0, nil, fmt.Errorf("bad status line %q", line)
	}
	if status, err = atoi(line[9:12]); err != nil {
		return 0, 0, nil, fmt.Errorf("bad status line %q", line)
	}
	length, chunked, closing := -1, false, false
	for len(head) > 0 {
		line, head, _ = bytes.Cut(head, []byte("\r\n"))
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, 0, nil, fmt.Errorf("bad header line %q", line)
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			if length, err = atoi(v); err != nil {
				return 0, 0, nil, fmt.Errorf("bad Content-Length %q", v)
			}
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(v, []byte("chunked"))
		case bytes.EqualFold(k, []byte("Connection")):
			closing = bytes.EqualFold(v, []byte("close"))
		}
	}
	var m int
	switch {
	case chunked:
		if m, body, err = parseChunked(rest, dst); m == 0 || err != nil {
			return 0, 0, nil, err
		}
	case length >= 0:
		if len(rest) < length {
			return 0, 0, nil, nil
		}
		m, body = length, append(dst, rest[:length]...)
	default:
		return 0, 0, nil, errors.New("answer without Content-Length or chunked encoding")
	}
	if closing {
		err = ErrClosed
	}
	return end + 4 + m, status, body, err
}

// parseChunked reads a chunked body at the start of b: its length in b (0
// while incomplete) and its data appended to dst.
func parseChunked(b, dst []byte) (n int, body []byte, err error) {
	for {
		i := bytes.Index(b[n:], []byte("\r\n"))
		if i < 0 {
			return 0, nil, nil
		}
		size, _, _ := bytes.Cut(b[n:n+i], []byte(";"))
		c, perr := strconv.ParseUint(string(size), 16, 24)
		if perr != nil {
			return 0, nil, fmt.Errorf("bad chunk size %q", b[n:n+i])
		}
		n += i + 2
		if c == 0 {
			// Trailers (none expected), then the empty line.
			for {
				j := bytes.Index(b[n:], []byte("\r\n"))
				if j < 0 {
					return 0, nil, nil
				}
				n += j + 2
				if j == 0 {
					return n, dst, nil
				}
			}
		}
		if len(b)-n < int(c)+2 {
			return 0, nil, nil
		}
		if !bytes.Equal(b[n+int(c):n+int(c)+2], []byte("\r\n")) {
			return 0, nil, errors.New("chunk not followed by CRLF")
		}
		dst = append(dst, b[n:n+int(c)]...)
		n += int(c) + 2
	}
}

// atoi parses a small non-negative decimal number without allocating.
func atoi(b []byte) (int, error) {
	if len(b) == 0 || len(b) > 9 {
		return 0, errors.New("not a number")
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errors.New("not a number")
		}
		n = n*10 + int(c-'0')
	}
	return n, nil
}
