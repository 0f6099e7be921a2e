package client_test

import (
	"context"
	"fmt"
	"os"

	"github.com/tokend/tokend/client"
	"github.com/tokend/tokend/client/wire"
)

// The environment `token exec` gives a program: the App Service
// managed-identity variables, and the Databricks ones for a profile with a
// workspace.
func ExampleChildEnv() {
	env, err := client.ChildEnv("127.0.0.1:41234", "tkd1.0123456789abcdef.SECRET", "https://adb-1.azuredatabricks.net")
	if err != nil {
		panic(err)
	}
	for _, v := range env {
		fmt.Printf("%s=%s\n", v.Name, v.Value)
	}
	// Output:
	// IDENTITY_ENDPOINT=http://127.0.0.1:41234/msi/token
	// IDENTITY_HEADER=tkd1.0123456789abcdef.SECRET
	// DATABRICKS_HOST=https://adb-1.azuredatabricks.net
	// DATABRICKS_AUTH_TYPE=metadata-service
	// DATABRICKS_METADATA_SERVICE_URL=http://127.0.0.1:41234/databricks/tkd1.0123456789abcdef.SECRET
}

// An editor plugin follows rotations instead of polling, and fetches the
// new token when one happens.
func ExampleClient_Watch() {
	c := client.New(os.Getenv("TOKEND_SOCKET"))
	ctx := context.Background()
	err := c.Watch(ctx, client.WatchRequest{Profile: "dbx"}, func(ev wire.Event) error {
		if ev.Type != wire.EventRotated {
			fmt.Println("profile", ev.Profile, "is now", ev.State)
			return nil
		}
		tok, err := c.Token(ctx, client.TokenRequest{Profile: ev.Profile, Scopes: ev.Scopes})
		if err != nil {
			return err
		}
		fmt.Println("new token until", tok.ExpiresOn)
		return nil
	})
	fmt.Println(err)
}
