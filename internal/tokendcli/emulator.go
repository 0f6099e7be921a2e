package tokendcli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/tokend/tokend/entraemu"
	"github.com/tokend/tokend/internal/cli"
	"github.com/tokend/tokend/internal/config"
)

func newEmulatorCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "emulator",
		Short: "Run the offline Entra ID emulator alone",
		Long: `Run the Entra ID emulator alone, for your own tests: an offline Entra ID
over TLS with its own CA, and a fake Azure Databricks workspace at the same
address. It writes ca.pem, client.pem (the fixture's client certificate)
and fixture.json to --dir, prints the authority and the fixture (-o json:
as JSON), and runs until interrupted. It shows a sign-in page at its
authorize endpoint; its test controls are under /_emulator/ (see the
entraemu package documentation).`,
		Example: `  tokend emulator --addr 127.0.0.1:0 --dir /tmp/emu`,
		Args:    cli.NoArgs,
	}
	addr := cmd.Flags().String("addr", "127.0.0.1:8443", "listen address (loopback; port 0: any free one)")
	dir := cmd.Flags().String("dir", "", "`DIR` for ca.pem, client.pem and fixture.json (default: <state dir>/emulator)")
	cmd.MarkFlagDirname("dir")
	out := cli.AddOutput(cmd, "text", "json")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := out.Check(); err != nil {
			return err
		}
		return runEmulator(cmd.Context(), *addr, *dir, out.JSON(), a.stdout, a.stderr)
	}
	return cmd
}

func runEmulator(ctx context.Context, addrFlag, dirFlag string, asJSON bool, stdout, stderr io.Writer) error {
	addr, dir := &addrFlag, &dirFlag
	if err := config.CheckLoopback(*addr); err != nil {
		return cli.Usagef("--addr: %v", err)
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
	if asJSON {
		if _, err := fmt.Fprintf(stdout, "%s\n", b); err != nil {
			return err
		}
		fmt.Fprintln(stderr, "emulator running; Ctrl-C stops it")
		<-ctx.Done()
		return nil
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
