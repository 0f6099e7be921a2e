package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/emulator"
)

func runEmulator(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("emulator")
	addr := fs.String("addr", "127.0.0.1:8443", "listen address (loopback)")
	dir := fs.String("dir", "", "directory for ca.pem and the fixture client certificate (default: <state dir>/emulator)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := config.CheckLoopback(*addr); err != nil {
		return usagef("--addr: %v", err)
	}
	if *dir == "" {
		sd, err := config.StateDir()
		if err != nil {
			return err
		}
		*dir = filepath.Join(sd, "emulator")
	}
	em, err := emulator.New(emulator.Config{Dir: *dir})
	if err != nil {
		return err
	}
	if err := em.Start(*addr); err != nil {
		return err
	}
	defer em.Close()
	fx := em.Fixture()
	fmt.Fprintf(stdout, "Entra ID emulator: authority %s\n", em.Authority())
	b, _ := json.MarshalIndent(fx, "", "  ")
	fmt.Fprintf(stdout, "fixture:\n%s\n\n", b)
	fmt.Fprintf(stdout, `a profile for it (config.toml):
[profiles.emu]
flow = "client-secret"
client_id = %q
authority = %q
ca_file = %q
# then: printf %%s %q | token login emu --client-secret-stdin

`, emulator.ConfidentialClientID, em.Authority(), fx.CAFile, emulator.ClientSecret)
	fmt.Fprintln(stderr, "emulator running; Ctrl-C stops it")
	<-ctx.Done()
	return nil
}
