// Package client is the typed Go client of the tokend daemon API, spoken over
// the daemon's unix socket. It is what the `token` command uses, and it stays
// small: no MSAL, no keychain, no router.
//
//	c := client.Default()             // the user's daemon, found as `token` finds it
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
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/safesocket"
)

// ErrUnreachable is wrapped by every error caused by not reaching the daemon.
var ErrUnreachable = errors.New("tokend is not reachable")

// ErrUntrusted is wrapped by the error of a request that the client refused
// to send: the socket, its directory or the process serving it is not the
// user's alone (someone else may have created them first, to collect what
// clients send). Nothing was sent. The message names the path and its
// owner.
var ErrUntrusted = errors.New("refusing to talk to tokend")

// NotAnsweringError is the error of a request that the daemon accepted but
// did not answer before the caller's deadline: it is stopped, hung or
// overloaded. It wraps ErrUnreachable and the context's error.
type NotAnsweringError struct {
	PID    int    // the daemon's process id, from the kernel (0 if unknown)
	Socket string // where it listens
	Err    error  // context.DeadlineExceeded, or what the watchdog saw
}

func (e *NotAnsweringError) Error() string {
	return fmt.Sprintf("tokend (pid %d) is not answering on %s", e.PID, e.Socket)
}

func (e *NotAnsweringError) Unwrap() []error { return []error{ErrUnreachable, e.Err} }

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

// Client talks to the daemon over its unix socket. Before it sends
// anything on a connection it checks, as the daemon does, that the socket
// and its directory are the user's alone, and that the process that
// accepted the connection runs as the user (the kernel's peer
// credentials); otherwise the request fails with ErrUntrusted.
//
// Requests are bounded by their context: give every request that does not
// wait on a person a deadline, and a daemon that does not answer by then
// gives a *NotAnsweringError. Requests that wait on a person (interactive
// sign-ins) and event streams check meanwhile that the daemon still
// answers (see SignIn and Watch).
type Client struct {
	hc  *http.Client // for the streaming endpoints (login, watch)
	pid atomic.Int64 // the daemon's, from the last connection

	mu     sync.Mutex
	socket string          // where the daemon is (or is looked for first)
	others func() []string // NewSearching: where to look next; nil once settled
	found  func(path string)

	// The watchdog of long requests: a ping every pingEvery, which must
	// be answered within pingTimeout.
	pingEvery, pingTimeout time.Duration
}

// Watchdog intervals of long requests.
const (
	pingEvery   = 10 * time.Second
	pingTimeout = 5 * time.Second
)

// Default returns a client of the user's own daemon, found as `token`
// finds it: $TOKEND_SOCKET alone when it is set, else the config's
// daemon.socket or the default path, and where no daemon answers there, the
// other places a daemon of the user's may listen (config.SocketCandidates).
func Default() *Client {
	first, explicit := config.FindSocket("")
	if explicit {
		return New(first)
	}
	return NewSearching(first, func() []string { return config.SocketCandidates(first) }, nil)
}

// New returns a client for the daemon listening on socket.
func New(socket string) *Client {
	return NewSearching(socket, nil, nil)
}

// NewSearching returns a client that looks for the daemon at socket and,
// where none listens there (no socket, or a refused connection: nothing
// was sent), at each of the places others returns (called then, once) in
// turn, and settles on the first where one does. found, if set, is called with that path when it is not socket.
// Every place is held to the same rules as socket (see Client): one that
// is not the user's alone is passed over, and its refusal is the error
// when no place has a daemon. Socket says where it settled.
func NewSearching(socket string, others func() []string, found func(path string)) *Client {
	c := &Client{socket: socket, others: others, found: found, pingEvery: pingEvery, pingTimeout: pingTimeout}
	tr := &http.Transport{
		DialContext:        func(ctx context.Context, _, _ string) (net.Conn, error) { return c.dial(ctx) },
		DisableCompression: true,
		MaxIdleConns:       4,
	}
	c.hc = &http.Client{Transport: tr}
	return c
}

// dial connects to the daemon, and only to the user's own (see Client).
func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	c.mu.Lock()
	socket, others := c.socket, c.others
	c.mu.Unlock()
	conn, err := c.dialAt(ctx, socket)
	if err == nil || others == nil || !absent(err) || ctx.Err() != nil {
		return conn, err
	}
	first := err
	places := others()
	var refused error // the first place that is not the user's alone
	for _, p := range places {
		conn, err := c.dialAt(ctx, p)
		switch {
		case err == nil:
			c.mu.Lock()
			c.socket, c.others = p, nil
			c.mu.Unlock()
			if c.found != nil {
				c.found(p)
			}
			return conn, nil
		case errors.Is(err, ErrUntrusted) && refused == nil:
			refused = err
		case ctx.Err() != nil:
			return nil, err
		}
	}
	if refused != nil {
		return nil, refused
	}
	if len(places) == 0 {
		return nil, first
	}
	return nil, &searchError{err: first, tried: places}
}

// dialAt connects to the daemon at path, if it is the user's own.
func (c *Client) dialAt(ctx context.Context, path string) (net.Conn, error) {
	conn, cred, err := safesocket.Dial(ctx, path)
	if errors.Is(err, safesocket.ErrUnsafe) {
		return nil, fmt.Errorf("%w at %s: %w", ErrUntrusted, path, err)
	}
	if err != nil {
		return nil, err
	}
	c.pid.Store(int64(cred.PID))
	return conn, nil
}

// absent reports whether err means no daemon listens there: no socket,
// or nobody accepting on it.
func absent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT)
}

// searchError is the error of a search that found no daemon: the first
// place's, naming the others.
type searchError struct {
	err   error
	tried []string
}

func (e *searchError) Error() string {
	return fmt.Sprintf("%v (also looked at %s)", e.err, strings.Join(e.tried, ", "))
}

func (e *searchError) Unwrap() error { return e.err }

// failure explains why a request to the daemon failed; connected says
// whether the daemon had accepted the connection.
func (c *Client) failure(ctx context.Context, err error, connected bool) error {
	err = unwrapURL(err)
	var na *NotAnsweringError
	switch {
	case errors.Is(err, ErrUntrusted):
		return err
	case errors.As(context.Cause(ctx), &na):
		return na
	case errors.Is(ctx.Err(), context.Canceled):
		return ctx.Err()
	case connected && (ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded)):
		// The connection's deadline is the context's, and may fire first.
		return &NotAnsweringError{PID: int(c.pid.Load()), Socket: c.Socket(), Err: context.DeadlineExceeded}
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return fmt.Errorf("%w at %s: %w", ErrUnreachable, c.Socket(), err)
}

// Socket is the path this client dials: where it settled, or, before it
// did (NewSearching), where it looks first.
func (c *Client) Socket() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.socket
}

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

// Reload has the daemon read its config file again and apply its profiles
// (as SIGHUP does): unchanged profiles keep their sign-ins, changed ones
// start over, new ones are fetched. A config that does not load is an
// *Error (invalid_request) naming the file and line, and changes nothing.
func (c *Client) Reload(ctx context.Context) (*wire.ReloadResult, error) {
	var r wire.ReloadResult
	return &r, c.do(ctx, http.MethodPost, "/v1/reload", struct{}{}, &r)
}

// CreateCapability mints a capability for the TCP listener.
func (c *Client) CreateCapability(ctx context.Context, req wire.CapabilityRequest) (*wire.Capability, error) {
	var cp wire.Capability
	return &cp, c.do(ctx, http.MethodPost, "/v1/capabilities", req, &cp)
}

// Capabilities lists the live capabilities (never their secrets).
func (c *Client) Capabilities(ctx context.Context) (*wire.CapabilityList, error) {
	var l wire.CapabilityList
	return &l, c.do(ctx, http.MethodGet, "/v1/capabilities", nil, &l)
}

// RevokeCapability revokes a capability by id. An unknown id is an *Error
// with Status 404.
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
	status, header, data, connected, err := c.roundTrip(req)
	if err != nil {
		return c.failure(ctx, err, connected)
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
// it from paying for machinery it would never reuse. connected says
// whether the daemon had accepted the connection when it failed.
func (c *Client) roundTrip(req *http.Request) (status int, header http.Header, body []byte, connected bool, err error) {
	ctx := req.Context()
	conn, err := c.dial(ctx)
	if err != nil {
		return 0, nil, nil, false, err
	}
	defer conn.Close()
	// The deadline bounds the reads and writes below; cancelling ctx
	// unblocks them too.
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	req.Close = true // one request per connection
	bw := bufio.NewWriterSize(conn, 2<<10)
	if err := req.Write(bw); err != nil {
		return 0, nil, nil, true, err
	}
	if err := bw.Flush(); err != nil {
		return 0, nil, nil, true, err
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 4<<10), req)
	if err != nil {
		return 0, nil, nil, true, err
	}
	defer resp.Body.Close()
	if body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20)); err != nil {
		return 0, nil, nil, true, fmt.Errorf("read answer of %s: %w", req.URL.Path, err)
	}
	return resp.StatusCode, resp.Header, body, true, nil
}

// watchdog watches, while a long request waits (a sign-in, an event
// stream), that the daemon still answers: every pingEvery it asks
// GET /healthz on a connection of its own, and when one gets no answer
// within pingTimeout it cancels ctx with a *NotAnsweringError (a daemon
// that went away ends the request by itself). stop ends the watch.
func (c *Client) watchdog(ctx context.Context, cancel context.CancelCauseFunc) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(c.pingEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			pctx, pcancel := context.WithTimeout(ctx, c.pingTimeout)
			err := c.do(pctx, http.MethodGet, "/healthz", nil, nil)
			pcancel()
			var na *NotAnsweringError
			if errors.As(err, &na) && ctx.Err() == nil {
				cancel(na)
				return
			}
		}
	}()
	return sync.OnceFunc(func() { close(done) })
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// CapabilityLabel makes s a label the daemon accepts for a capability
// (wire.CapabilityRequest.Label): valid UTF-8, control characters replaced
// by '?', at most 128 bytes.
func CapabilityLabel(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return '?'
		}
		return r
	}, s)
	for len(s) > 128 {
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	return s
}
