// Package client is the typed Go client of the tokend daemon API, spoken over
// the daemon's unix socket. It is what the `token` command uses, and it stays
// small: no MSAL, no keychain, no router.
//
//	c := client.New("")               // default socket
//	tok, err := c.Token(ctx, client.TokenRequest{Profile: "dbx"})
//	var e *client.Error
//	if errors.As(err, &e) && e.Code == wire.CodeLoginRequired { ... }
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/tokend/tokend/client/wire"
)

// ErrUnreachable is wrapped by every error caused by not reaching the daemon.
var ErrUnreachable = errors.New("tokend is not reachable")

// Error is an error answer of the daemon.
type Error struct {
	Status      int
	Code        string
	Description string
	RetryAfter  time.Duration
}

func (e *Error) Error() string {
	if e.Description != "" {
		return e.Description
	}
	return fmt.Sprintf("%s (HTTP %d)", e.Code, e.Status)
}

// Client talks to the daemon over its unix socket.
type Client struct {
	socket string
	dialer net.Dialer
	hc     *http.Client // for the streaming endpoints (login, watch)
}

// New returns a client for the daemon listening on socket.
func New(socket string) *Client {
	c := &Client{socket: socket, dialer: net.Dialer{Timeout: 2 * time.Second}}
	tr := &http.Transport{
		DialContext:        func(ctx context.Context, _, _ string) (net.Conn, error) { return c.dial(ctx) },
		DisableCompression: true,
		MaxIdleConns:       4,
	}
	c.hc = &http.Client{Transport: tr}
	return c
}

func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	return c.dialer.DialContext(ctx, "unix", c.socket)
}

// Socket is the path this client dials.
func (c *Client) Socket() string { return c.socket }

// TokenRequest selects a token. Empty Profile means the daemon's default
// profile; empty Scopes and Resource mean the profile's scopes.
type TokenRequest struct {
	Profile  string
	Scopes   []string
	Resource string
}

// Token returns a fresh access token.
func (c *Client) Token(ctx context.Context, req TokenRequest) (*wire.Token, error) {
	q := url.Values{}
	if req.Profile != "" {
		q.Set("profile", req.Profile)
	}
	for _, s := range req.Scopes {
		q.Add("scope", s)
	}
	if req.Resource != "" {
		q.Set("resource", req.Resource)
	}
	var t wire.Token
	return &t, c.do(ctx, http.MethodGet, "/v1/token?"+q.Encode(), nil, &t)
}

// Status returns the daemon's status.
func (c *Client) Status(ctx context.Context) (*wire.Status, error) {
	var s wire.Status
	return &s, c.do(ctx, http.MethodGet, "/v1/status", nil, &s)
}

// Logout removes a profile's tokens and secrets.
func (c *Client) Logout(ctx context.Context, profile string) error {
	return c.do(ctx, http.MethodPost, "/v1/logout", wire.LogoutRequest{Profile: profile}, nil)
}

// CreateCapability mints a capability for the TCP listener.
func (c *Client) CreateCapability(ctx context.Context, req wire.CapabilityRequest) (*wire.Capability, error) {
	var cp wire.Capability
	return &cp, c.do(ctx, http.MethodPost, "/v1/capabilities", req, &cp)
}

// RevokeCapability revokes a capability by id.
func (c *Client) RevokeCapability(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/capabilities/"+url.PathEscape(id), nil, nil)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://tokend"+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	status, header, data, err := c.roundTrip(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w at %s: %w", ErrUnreachable, c.socket, err)
	}
	if status/100 != 2 {
		var eb wire.ErrorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error == "" {
			return &Error{Status: status, Code: wire.CodeInternal, Description: fmt.Sprintf("tokend answered HTTP %d", status)}
		}
		e := &Error{Status: status, Code: eb.Error, Description: eb.Description}
		if s, err := strconv.Atoi(header.Get("Retry-After")); err == nil {
			e.RetryAfter = time.Duration(s) * time.Second
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode answer of %s: %w", path, err)
	}
	return nil
}

// roundTrip sends req on a connection of its own and reads the whole answer
// (at most 1 MiB) on the calling goroutine: no transport, no goroutines, no
// connection pool. A `token get` process lives for one request; this keeps
// it from paying for machinery it would never reuse.
func (c *Client) roundTrip(req *http.Request) (status int, header http.Header, body []byte, err error) {
	ctx := req.Context()
	conn, err := c.dial(ctx)
	if err != nil {
		return 0, nil, nil, err
	}
	defer conn.Close()
	// Cancelling ctx unblocks the reads and writes below.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	req.Close = true // one request per connection
	bw := bufio.NewWriterSize(conn, 2<<10)
	if err := req.Write(bw); err != nil {
		return 0, nil, nil, err
	}
	if err := bw.Flush(); err != nil {
		return 0, nil, nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 4<<10), req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	if body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20)); err != nil {
		return 0, nil, nil, fmt.Errorf("read answer of %s: %w", req.URL.Path, err)
	}
	return resp.StatusCode, resp.Header, body, nil
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
