// Command token is tokend's thin client: it asks the daemon over its unix
// socket (a named pipe on Windows) and prints. This file is wiring only;
// the commands are in internal/tokencli. It links no MSAL, keychain or
// router code (TestThinClientDeps).
package main

import (
	"os"

	"github.com/tokend/tokend/internal/tokencli"
)

func main() { os.Exit(tokencli.Main()) }
