package tokendcli

import (
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/spf13/cobra"

	"github.com/tokend/tokend/internal/cli"
	"github.com/tokend/tokend/internal/config"
)

func newConfigCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check the config file",
		Args:  cli.NoArgs,
		RunE:  cli.NameACommand,
	}
	cmd.AddCommand(newConfigCheckCmd(a))
	return cmd
}

func newConfigCheckCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check [FILE]",
		Short: "Check a config file as tokend serve would load it",
		Long: `Check FILE (default: $TOKEND_CONFIG, else <user config dir>/tokend/config.toml)
as ` + "`tokend serve`" + ` would load it: TOML, strictly (an unknown key is an
error naming the file, its line and the key), and every value. A file that
does not exist is an error, naming the command that writes one. Exit 1 when
it does not load.

The keys are those of configs/config.example.toml in tokend's repository;
` + "`token setup NAME --databricks-host URL`" + ` adds a profile for you.`,
		Example: `  tokend config check
  tokend config check ~/work/tokend.toml -o json`,
		Args: cli.MaxArgs(1),
	}
	out := cli.AddOutput(cmd, "text", "json")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := out.Check(); err != nil {
			return err
		}
		path := config.Path("")
		if len(args) == 1 {
			path = args[0]
		}
		return configCheck(path, out.JSON(), a.stdout)
	}
	return cmd
}

// configCheck loads the config at path and reports it.
func configCheck(path string, asJSON bool, stdout io.Writer) error {
	if !config.Exists(path) {
		return fmt.Errorf("%s does not exist: `token setup NAME --databricks-host URL` writes it with a profile (or see configs/config.example.toml)", path)
	}
	cfg, err := config.Load(path, true)
	if err != nil {
		return err
	}
	if asJSON {
		names := slices.Sorted(maps.Keys(cfg.Profiles))
		return cli.WriteJSON(stdout, struct {
			Path           string   `json:"path"`
			OK             bool     `json:"ok"`
			DefaultProfile string   `json:"default_profile,omitempty"`
			Profiles       []string `json:"profiles"`
		}{path, true, cfg.DefaultProfile, names})
	}
	_, err = fmt.Fprintf(stdout, "%s: ok, %d profile(s)\n", path, len(cfg.Profiles))
	return err
}
