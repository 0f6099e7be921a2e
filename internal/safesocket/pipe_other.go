//go:build !windows

package safesocket

import (
	"context"
	"net"

	"github.com/tokend/tokend/internal/peercred"
)

// pipes: the endpoint is a unix socket here.
const pipes = false

func listenPipe(string) (net.Listener, error) { return nil, ErrUnsupported }

func dialPipe(context.Context, string) (net.Conn, peercred.Cred, error) {
	return nil, peercred.Cred{}, ErrUnsupported
}
