package client

import (
	"errors"
	"strings"
	"testing"

	"github.com/tokend/tokend/client/wire"
)

func TestReadEvents(t *testing.T) {
	for _, tc := range []struct {
		name     string
		stream   string
		profiles []string // of the events, in order
		ended    bool     // the stream ended (ErrUnreachable) rather than failed
	}{
		{"opening comment, two events", ": watching\n\nevent: rotated\ndata: {\"type\":\"rotated\",\"profile\":\"a\"}\n\n: keepalive\n\nevent: state\ndata: {\"type\":\"state\",\"profile\":\"b\"}\n\n", []string{"a", "b"}, true},
		{"CRLF", "event: rotated\r\ndata: {\"profile\":\"a\"}\r\n\r\n", []string{"a"}, true},
		{"data split over lines", "data: {\"profile\":\ndata: \"a\"}\n\n", []string{"a"}, true},
		{"no space after colon", "data:{\"profile\":\"a\"}\n\n", []string{"a"}, true},
		{"unfinished event is dropped", "data: {\"profile\":\"a\"}\n", nil, true},
		{"empty stream", "", nil, true},
		{"bad JSON", "data: {\n\n", nil, false},
		{"line too long", "data: " + strings.Repeat("x", maxEventLine) + "\n\n", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			err := readEvents(strings.NewReader(tc.stream), func(ev wire.Event) error {
				got = append(got, ev.Profile)
				return nil
			})
			if strings.Join(got, ",") != strings.Join(tc.profiles, ",") {
				t.Errorf("events of %v, want %v", got, tc.profiles)
			}
			if err == nil || errors.Is(err, ErrUnreachable) != tc.ended {
				t.Errorf("err = %v, want ended=%v", err, tc.ended)
			}
		})
	}
	stop := errors.New("stop")
	if err := readEvents(strings.NewReader("data: {}\n\ndata: {}\n\n"), func(wire.Event) error { return stop }); err != stop {
		t.Errorf("fn's error not returned: %v", err)
	}
}
