package client

import (
	"context"
	"net/http"

	"github.com/tokend/tokend/client/wire"
)

// Refresh replaces a token now instead of at its scheduled time, for example
// after a server rejected it (see RefreshRequest). It returns the new token.
func (c *Client) Refresh(ctx context.Context, req wire.RefreshRequest) (*wire.Token, error) {
	var t wire.Token
	return &t, c.do(ctx, http.MethodPost, "/v1/refresh", req, &t)
}
