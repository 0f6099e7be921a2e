package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/tokend/tokend/client/wire"
)

// SignIn signs a profile in with any flow, following interactive ones
// (browser, device code): show (nil for non-interactive flows) gets each
// thing the user must do (open a URL, enter a code) as the daemon reports
// it. SignIn returns when the sign-in ends; cancelling ctx cancels it in
// the daemon. An interactive sign-in waits on the person as long as ctx
// allows, but not on a daemon that stopped answering: a watchdog asks the
// daemon every few seconds on a connection of its own, and a daemon that
// does not answer ends the sign-in with a *NotAnsweringError.
func (c *Client) SignIn(ctx context.Context, req wire.LoginRequest, show func(wire.LoginEvent)) (*wire.LoginResult, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer c.watchdog(ctx, cancel)()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://tokend/v1/login", bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Accept", wire.ContentTypeNDJSON+", application/json")
	resp, err := c.hc.Do(hr)
	if err != nil {
		return nil, c.failure(ctx, err, c.pid.Load() != 0)
	}
	defer resp.Body.Close()
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); resp.StatusCode == http.StatusOK && mt == wire.ContentTypeNDJSON {
		r, err := readLoginEvents(ctx, resp.Body, show)
		if err != nil && ctx.Err() != nil {
			return nil, c.failure(ctx, err, true)
		}
		return r, err
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		if ctx.Err() != nil {
			return nil, c.failure(ctx, err, true)
		}
		return nil, fmt.Errorf("read answer of /v1/login: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, errorAnswer(resp, data)
	}
	var r wire.LoginResult
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decode answer of /v1/login: %w", err)
	}
	return &r, nil
}

// ErrLoginStreamEnded means the daemon's answer stopped before saying how
// the sign-in ended (the daemon stopped, say).
var ErrLoginStreamEnded = errors.New("tokend stopped answering before the sign-in ended")

// readLoginEvents reads an NDJSON sign-in stream to its last event.
func readLoginEvents(ctx context.Context, r io.Reader, show func(wire.LoginEvent)) (*wire.LoginResult, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 16<<10), 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var ev wire.LoginEvent
		if err := json.Unmarshal(line, &ev); err != nil {
			return nil, fmt.Errorf("decode sign-in event: %w", err)
		}
		switch ev.Event {
		case wire.EventSignedIn:
			if ev.Result == nil {
				return nil, errors.New("decode sign-in event: signed_in without a result")
			}
			return ev.Result, nil
		case wire.EventError:
			return nil, &Error{Status: codeStatus(ev.Error), Code: ev.Error, Description: ev.Description}
		default:
			if show != nil {
				show(ev)
			}
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLoginStreamEnded, err)
	}
	return nil, ErrLoginStreamEnded
}

// errorAnswer turns a non-2xx answer into an *Error.
func errorAnswer(resp *http.Response, data []byte) error {
	var eb wire.ErrorBody
	if json.Unmarshal(data, &eb) != nil || eb.Error == "" {
		return &Error{Status: resp.StatusCode, Code: wire.CodeInternal, Description: fmt.Sprintf("tokend answered HTTP %d", resp.StatusCode)}
	}
	e := &Error{Status: resp.StatusCode, Code: eb.Error, Description: eb.Description}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

// codeStatus is the HTTP status the daemon gives an error code, for errors
// that arrive inside a stream (whose own status was 200).
func codeStatus(code string) int {
	switch code {
	case wire.CodeUnauthorized:
		return http.StatusUnauthorized
	case wire.CodeForbidden:
		return http.StatusForbidden
	case wire.CodeUnknownProfile:
		return http.StatusNotFound
	case wire.CodeLoginRequired:
		return http.StatusConflict
	case wire.CodeUpstreamUnavailable:
		return http.StatusServiceUnavailable
	case wire.CodeInternal:
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}
