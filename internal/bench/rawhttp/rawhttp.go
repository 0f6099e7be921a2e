// Package rawhttp is the load generator's HTTP/1.1 client: one keep-alive
// connection that sends the same request over and over and reads the
// answers without allocating, so that a benchmark measures the daemon
// rather than its client (as wrk does). It speaks only what tokend answers:
// a status line, headers, and a body framed by Content-Length or chunked
// encoding.
package rawhttp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
)

// Conn is one keep-alive connection sending one request.
type Conn struct {
	net.Conn
	br   *bufio.Reader
	req  []byte
	body []byte
}

// NewConn sends req (see Request) on c at each Do.
func NewConn(c net.Conn, req []byte) *Conn {
	return &Conn{Conn: c, br: bufio.NewReaderSize(c, 16<<10), req: req, body: make([]byte, 0, 8<<10)}
}

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

// ErrClosed is returned, with the answer, when the server said it closes
// the connection.
var ErrClosed = errors.New("server closed the connection")

// Do sends the request and reads the answer. The body is valid until the
// next call.
func (c *Conn) Do() (status int, body []byte, err error) {
	if _, err := c.Conn.Write(c.req); err != nil {
		return 0, nil, err
	}
	return ReadResponse(c.br, c.body[:0])
}

// ReadResponse reads one HTTP/1.1 response from br, appending its body to
// buf.
func ReadResponse(br *bufio.Reader, buf []byte) (status int, body []byte, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, nil, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	status, err = atoi(line[9:12])
	if err != nil {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	length, chunked, closing := -1, false, false
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, nil, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, nil, fmt.Errorf("bad header line %q", line)
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			if length, err = atoi(v); err != nil {
				return 0, nil, fmt.Errorf("bad Content-Length %q", v)
			}
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(v, []byte("chunked"))
		case bytes.EqualFold(k, []byte("Connection")):
			closing = bytes.EqualFold(v, []byte("close"))
		}
	}
	switch {
	case chunked:
		body, err = readChunked(br, buf)
	case length >= 0:
		body, err = readN(br, buf, length)
	default:
		return 0, nil, errors.New("response without Content-Length or chunked encoding")
	}
	if err == nil && closing {
		err = ErrClosed
	}
	return status, body, err
}

func readN(br *bufio.Reader, buf []byte, n int) ([]byte, error) {
	start := len(buf)
	buf = grow(buf, n)
	_, err := io.ReadFull(br, buf[start:])
	return buf, err
}

func grow(buf []byte, n int) []byte {
	if cap(buf)-len(buf) < n {
		nb := make([]byte, len(buf), len(buf)+n)
		copy(nb, buf)
		buf = nb
	}
	return buf[:len(buf)+n]
}

func readChunked(br *bufio.Reader, buf []byte) ([]byte, error) {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		size, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		n, err := strconv.ParseInt(string(size), 16, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("bad chunk size %q", line)
		}
		if n == 0 {
			for { // trailers, then the empty line
				line, err := br.ReadSlice('\n')
				if err != nil {
					return nil, err
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return buf, nil
				}
			}
		}
		if buf, err = readN(br, buf, int(n)); err != nil {
			return nil, err
		}
		if crlf, err := br.ReadSlice('\n'); err != nil || len(bytes.TrimRight(crlf, "\r\n")) != 0 {
			return nil, fmt.Errorf("chunk not followed by CRLF")
		}
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
