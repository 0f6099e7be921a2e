package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tokend/tokend/entraemu"
	"github.com/tokend/tokend/internal/config"
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
	em, err := entraemu.New(entraemu.Config{Dir: *dir})
	if err != nil {
		return err
	}
	if err := em.Start(*addr); err != nil {
		return err
	}
	defer em.Close()
	fx := em.Fixture()
	b, err := writeFixture(*dir, fx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Entra ID emulator: authority %s\n", em.Authority())
	fmt.Fprintf(stdout, "Azure Databricks workspace (fake): %s\n", em.URL())
	fmt.Fprintf(stdout, "fixture (also in %s):\n%s\n\n", filepath.Join(*dir, "fixture.json"), b)
	fmt.Fprintf(stdout, `a profile for it (config.toml):
[profiles.emu]
flow = "client-secret"
client_id = %q
authority = %q
ca_file = %q
databricks_host = %q
# then: printf %%s %q | token login emu --client-secret-stdin

`, entraemu.ConfidentialClientID, em.Authority(), fx.CAFile, em.URL(), entraemu.ClientSecret)
	fmt.Fprintln(stderr, "emulator running; Ctrl-C stops it")
	<-ctx.Done()
	return nil
}

// writeFixture writes the fixture, authority included, to DIR/fixture.json
// so that scripts can find a running emulator.
func writeFixture(dir string, fx entraemu.Fixture) ([]byte, error) {
	b, err := json.MarshalIndent(fx, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "fixture.json"), append(b, '\n'), 0o600); err != nil {
		return nil, fmt.Errorf("write fixture: %w", err)
	}
	return b, nil
}
