package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/tokend/tokend/client/wire"
)

// WatchRequest selects the events of Watch.
type WatchRequest struct {
	Profile string // "" for every profile
	// Opened, if set, is called once the subscription is live: every event
	// from then on reaches fn.
	Opened func()
}

// maxEventLine bounds one line of the event stream.
const maxEventLine = 64 << 10

var errLongLine = errors.New("event line too long")

// Watch follows GET /v1/watch and calls fn with each event until ctx is
// done (it then returns ctx.Err()), fn returns an error, or the daemon ends
// the stream (an error wrapping ErrUnreachable: reconnect to go on). As
// SignIn does, it checks meanwhile that the daemon still answers: one that
// stopped answering ends the watch with a *NotAnsweringError.
func (c *Client) Watch(ctx context.Context, req WatchRequest, fn func(wire.Event) error) error {
	outer := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer c.watchdog(ctx, cancel)()
	path := "/v1/watch"
	if req.Profile != "" {
		path += "?" + url.Values{"profile": {req.Profile}}.Encode()
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://tokend"+path, nil)
	if err != nil {
		return err
	}
	hreq.Header.Set("Accept", "text/event-stream")
	resp, err := c.hc.Do(hreq)
	if err != nil {
		return c.failure(ctx, err, c.pid.Load() != 0)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errorOf(resp)
	}
	if req.Opened != nil {
		req.Opened()
	}
	err = readEvents(resp.Body, fn)
	if outer.Err() != nil {
		return outer.Err()
	}
	if ctx.Err() != nil {
		return c.failure(ctx, err, true)
	}
	return err
}

// readEvents parses a server-sent event stream and calls fn with the data
// of each event. It returns fn's error, or one wrapping ErrUnreachable when
// the stream ends.
func readEvents(r io.Reader, fn func(wire.Event) error) error {
	br := bufio.NewReaderSize(r, 4096)
	var data strings.Builder
	for {
		line, err := readLine(br)
		if errors.Is(err, errLongLine) {
			return fmt.Errorf("read event stream: %w", err)
		}
		if err != nil {
			return fmt.Errorf("%w: the event stream ended: %w", ErrUnreachable, err)
		}
		switch {
		case line == "":
			if data.Len() == 0 {
				continue
			}
			var ev wire.Event
			if err := json.Unmarshal([]byte(data.String()), &ev); err != nil {
				return fmt.Errorf("decode event: %w", err)
			}
			data.Reset()
			if err := fn(ev); err != nil {
				return err
			}
		case strings.HasPrefix(line, ":"): // comment: opening or keepalive
		case strings.HasPrefix(line, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
		// "event:" repeats the data's type; "id:" and "retry:" are not sent.
	}
}

// readLine returns one line without its LF or CRLF.
func readLine(br *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		chunk, isPrefix, err := br.ReadLine()
		if err != nil {
			return "", err
		}
		if b.Len()+len(chunk) > maxEventLine {
			return "", errLongLine
		}
		b.Write(chunk)
		if !isPrefix {
			return b.String(), nil
		}
	}
}

// errorOf reads the error answer of a streaming request.
func errorOf(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var eb wire.ErrorBody
	if json.Unmarshal(data, &eb) != nil || eb.Error == "" {
		return &Error{Status: resp.StatusCode, Code: wire.CodeInternal, Description: fmt.Sprintf("tokend answered HTTP %d", resp.StatusCode)}
	}
	return &Error{Status: resp.StatusCode, Code: eb.Error, Description: eb.Description}
}
