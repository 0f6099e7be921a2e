package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/tokend/tokend/client"
	"github.com/tokend/tokend/client/wire"
)

// A tool signs a browser profile in: it shows the URL (or opens it), and
// the daemon says when the person is done. Cancelling the context cancels
// the sign-in in the daemon.
func ExampleClient_SignIn() {
	c := client.New(os.Getenv("TOKEND_SOCKET"))
	r, err := c.SignIn(context.Background(), wire.LoginRequest{Profile: "dbx", Flow: "browser"}, func(ev wire.LoginEvent) {
		switch ev.Event {
		case wire.EventOpenURL:
			fmt.Println("open this URL to sign in:", ev.URL)
		case wire.EventDeviceCode:
			fmt.Println(ev.Message)
		}
	})
	var e *client.Error
	switch {
	case errors.As(err, &e) && e.Code == wire.CodeLoginRequired:
		fmt.Println("sign-in failed:", e.Description)
	case err != nil:
		fmt.Println(err)
	default:
		fmt.Println("signed in as", r.Account)
	}
}
