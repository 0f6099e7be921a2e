// Command tokend is the tokend daemon: it owns Entra ID refresh tokens, keeps
// access tokens fresh and serves them to `token` and to SDKs. This file is
// wiring only; the commands are in internal/tokendcli, the daemon in
// package daemon.
package main

import (
	"os"

	"github.com/tokend/tokend/internal/tokendcli"
)

func main() { os.Exit(tokendcli.Main()) }
