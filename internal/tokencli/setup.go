package tokencli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/tokend/tokend/client"
	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/atomicfile"
	"github.com/tokend/tokend/internal/cli"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/flow"
)

func newSetupCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "setup NAME",
		Short: "Add a profile to the config, have tokend load it, and sign it in",
		Long: `Add profile NAME to the config file, with comments, and sign it in: setup
writes the profile (creating the file 0600 in a 0700 directory, or adding to
the file and keeping every byte already there; atomically), checks the
result as tokend would, has the running tokend load it (or, where none
runs, starts one in the background), then signs the profile in as
` + "`token login NAME`" + ` would. Run again, it changes nothing it already did.

The profile signs in as you (flow browser, or the flag you give) with the
Azure CLI's public client, which needs no app registration (set
--client-id where your tenant's Conditional Access blocks it), at the
tenant your Azure Databricks workspace signs in with (learned from
--databricks-host), asking for Azure Databricks tokens (or --scope).`,
		Example: `  token setup dbx --databricks-host https://adb-1234567890123456.7.azuredatabricks.net
  token setup dbx --databricks-host https://adb-1234567890123456.7.azuredatabricks.net --device-code
  token setup graph --scope https://graph.microsoft.com/.default --tenant contoso.onmicrosoft.com
  printf %s "$SECRET" | token setup sp --client-secret-stdin --client-id APP --tenant TENANT --databricks-host https://adb-…`,
		GroupID: groupSignIn,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return cli.Usagef("name the profile: token setup NAME --databricks-host URL")
			}
			if !setupName().MatchString(args[0]) {
				return cli.Usagef("profile name %q: use letters, digits, - and _ (at most 64, starting with a letter or digit)", args[0])
			}
			return nil
		},
	}
	var s setupFlags
	f := cmd.Flags()
	f.StringVar(&s.host, "databricks-host", "", "the Azure Databricks workspace `URL`, https://adb-….azuredatabricks.net (the tenant is learned from it)")
	f.StringVar(&s.tenant, "tenant", "", "the Entra ID `TENANT` (id or domain; default: learned from --databricks-host, else your home tenant)")
	f.StringVar(&s.clientID, "client-id", "", "the app's client id, `APPID` (default for user sign-ins: the Azure CLI's public client)")
	f.StringArrayVar(&s.scopes, "scope", nil, "a `SCOPE` to ask for (repeatable; default: Azure Databricks)")
	f.StringVar(&s.cloud, "cloud", "", "`CLOUD`: public, usgov or china (default: the workspace's, else public)")
	f.StringVar(&s.authority, "authority", "", "an authority `URL` instead of the cloud's, e.g. the emulator's https://127.0.0.1:8443")
	f.StringVar(&s.caFile, "ca-file", "", "a CA `FILE` to trust for --authority (the emulator's ca.pem)")
	f.StringVar(&s.config, "config", "", "the config `FILE` to write (default: $TOKEND_CONFIG, else <user config dir>/tokend/config.toml)")
	f.BoolVar(&s.noLogin, "no-login", false, "write the profile and have tokend load it, but do not sign in")
	f.BoolVar(&s.noStart, "no-start", false, "do not start tokend where none runs")
	f.StringVar(&s.store, "store", "", "the daemon's secret `STORE` in a config setup creates: keyring (the default), or file where no keychain runs (SSH, containers, WSL)")
	cmd.RegisterFlagCompletionFunc("store", cobra.FixedCompletions(config.Stores, cobra.ShellCompDirectiveNoFileComp))
	cmd.MarkFlagFilename("ca-file")
	cmd.MarkFlagFilename("config", "toml")
	m := addMethodFlags(cmd)
	out := cli.AddOutput(cmd, "text", "json")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		if err := out.Check(); err != nil {
			return err
		}
		method, explicit, err := m.chosen()
		if err != nil {
			return err
		}
		if !explicit {
			method = flow.Get(flow.Browser)
		}
		if method.Input == flow.NoInput {
			return cli.Usagef("setup signs in with a flag's method; write a %s profile into the config yourself", method.Name)
		}
		r, err := a.setup(ctx, args[0], method, m, &s)
		if r != nil && out.JSON() {
			if werr := cli.WriteJSON(a.stdout, r); err == nil {
				err = werr
			}
		}
		return err
	})
	return cmd
}

// setupName is a profile name setup writes as a bare TOML key (no dots).
// It compiles on first use: most token processes never set anything up.
var setupName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`) })

type setupFlags struct {
	host, tenant, clientID, cloud, authority, caFile string
	scopes                                           []string
	config, store                                    string
	noLogin, noStart                                 bool
}

// setupResult is what setup did (-o json).
type setupResult struct {
	Profile  string            `json:"profile"`
	Config   string            `json:"config"`
	Written  bool              `json:"written"` // false: the profile was there already
	Daemon   setupDaemon       `json:"daemon"`
	SignedIn *wire.LoginResult `json:"signed_in,omitempty"`
}

type setupDaemon struct {
	PID     int    `json:"pid"`
	Socket  string `json:"socket"`
	Started bool   `json:"started"`       // setup started it
	Log     string `json:"log,omitempty"` // where it logs, when setup started it
}

func (a *app) setup(ctx context.Context, name string, method flow.Flow, m *methodFlags, s *setupFlags) (*setupResult, error) {
	path := config.Path(s.config)
	if path == "" {
		return nil, errors.New("no config file: set TOKEND_CONFIG or --config (the user config directory is unknown)")
	}
	if s.caFile != "" {
		abs, err := filepath.Abs(s.caFile)
		if err != nil {
			return nil, err
		}
		s.caFile = abs
	}
	r := &setupResult{Profile: name, Config: path}

	// 1. The profile, in the file.
	if s.store != "" && !slices.Contains(config.Stores, s.store) {
		return nil, cli.Usagef("--store %q: want one of %s", s.store, strings.Join(config.Stores, ", "))
	}
	written, err := writeProfile(path, name, profileTOML(name, method, s), s.store)
	if err != nil {
		return nil, err
	}
	r.Written = written
	if written {
		fmt.Fprintf(a.stderr, "wrote profile %s to %s\n", name, path)
	} else {
		fmt.Fprintf(a.stderr, "profile %s is in %s already\n", name, path)
	}

	// 2. tokend, with the profile loaded.
	sctx, cancel := a.bounded(ctx)
	st, err := a.client().Status(sctx)
	cancel()
	switch {
	case err == nil:
		if s.store != "" && st.Store.Backend != s.store {
			return r, fmt.Errorf("tokend (pid %d) runs with the %s store, not %s: restart it (the config says %s now, or see its daemon.store)", st.PID, st.Store.Backend, s.store, s.store)
		}
		if err := a.reloadFor(ctx, st, path, name); err != nil {
			return r, err
		}
		r.Daemon = setupDaemon{PID: st.PID, Socket: a.client().Socket()}
		fmt.Fprintf(a.stderr, "tokend (pid %d) loaded profile %s\n", st.PID, name)
	case errors.Is(err, client.ErrUnreachable) && !errors.Is(err, client.ErrUntrusted) && !isNotAnswering(err):
		if s.noStart {
			return r, fmt.Errorf("%w: start it (`tokend serve`, or `tokend install` to start it at logon), then `token login %s`", err, name)
		}
		d, err := a.startDaemon(ctx, s.config)
		if err != nil {
			return r, err
		}
		r.Daemon = *d
		fmt.Fprintf(a.stderr, "started tokend (pid %d) in the background, logging to %s; `tokend install` starts it at logon\n", d.PID, d.Log)
	default:
		return r, err
	}

	// 3. The sign-in.
	if s.noLogin {
		fmt.Fprintf(a.stderr, "sign in with `%s`\n", method.LoginCommand(name))
		return r, nil
	}
	res, err := a.signIn(ctx, name, m, method, true)
	if err != nil {
		return r, err
	}
	r.SignedIn = res
	fmt.Fprintf(a.stderr, "next: token get %s\n", name)
	return r, nil
}

func isNotAnswering(err error) bool {
	var na *client.NotAnsweringError
	return errors.As(err, &na)
}

// reloadFor has the running daemon, whose status is st, load the config
// at path, which must be the file it reads, and checks that it now has
// profile name.
func (a *app) reloadFor(ctx context.Context, st *wire.Status, path, name string) error {
	if st.Config != "" && !sameFile(st.Config, path) {
		return fmt.Errorf("tokend (pid %d) reads %s, not %s, where setup wrote profile %s: run setup with --config %s, or restart tokend with --config %s", st.PID, st.Config, path, name, st.Config, path)
	}
	ctx, cancel := a.bounded(ctx)
	defer cancel()
	res, err := a.client().Reload(ctx)
	if err != nil {
		return err
	}
	for _, list := range [][]string{res.Added, res.Changed, res.Kept} {
		for _, n := range list {
			if n == name {
				return nil
			}
		}
	}
	return fmt.Errorf("tokend (pid %d) reloaded %s but has no profile %s", st.PID, res.Config, name)
}

func sameFile(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(fa, fb)
	}
	return filepath.Clean(a) == filepath.Clean(b)
}

// profileTOML is the profile as setup writes it: the keys set, and the
// defaults as comments that say what they are.
func profileTOML(name string, method flow.Flow, s *setupFlags) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n# Added by `token setup %s`. `token login %s` signs it in again; after\n# editing this file, `tokend config check` checks it and `token reload` applies it.\n", name, name)
	fmt.Fprintf(&b, "[profiles.%s]\n", name)
	var others []string
	for _, g := range method.Methods()[1:] {
		others = append(others, string(g.Name))
	}
	also := ""
	if len(others) > 0 {
		also = " (also: " + strings.Join(others, ", ") + ", with a flag of token login)"
	}
	fmt.Fprintf(&b, "flow = %s   # %s%s\n", tomlString(string(method.Name)), method.Summary, also)
	if s.host != "" {
		fmt.Fprintf(&b, "databricks_host = %s   # the Azure Databricks workspace\n", tomlString(s.host))
	}
	switch {
	case s.tenant != "":
		fmt.Fprintf(&b, "tenant = %s\n", tomlString(s.tenant))
	case s.host != "":
		b.WriteString("# tenant = \"\"   # default: the workspace's, learned from databricks_host\n")
	case method.User:
		b.WriteString("# tenant = \"\"   # default: \"organizations\", your home tenant\n")
	}
	switch {
	case s.clientID != "":
		fmt.Fprintf(&b, "client_id = %s\n", tomlString(s.clientID))
	case method.User:
		fmt.Fprintf(&b, "# client_id = %s   # the default: the Azure CLI's public client, no app registration;\n#   your own app's where Conditional Access blocks it\n", tomlString(config.AzureCLIClientID))
	}
	if len(s.scopes) > 0 {
		q := make([]string, len(s.scopes))
		for i, sc := range s.scopes {
			q[i] = tomlString(sc)
		}
		fmt.Fprintf(&b, "scopes = [%s]\n", strings.Join(q, ", "))
	} else {
		fmt.Fprintf(&b, "# scopes = [%s]   # the default: Azure Databricks\n", tomlString(config.DatabricksScope))
	}
	if s.cloud != "" {
		fmt.Fprintf(&b, "cloud = %s\n", tomlString(s.cloud))
	}
	if s.authority != "" {
		fmt.Fprintf(&b, "authority = %s\n", tomlString(s.authority))
	}
	if s.caFile != "" {
		fmt.Fprintf(&b, "ca_file = %s\n", tomlString(s.caFile))
	}
	return b.String()
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// configHeader starts a config file setup creates.
const configHeader = `# tokend's configuration (see configs/config.example.toml in tokend's
# repository for every key). Strict: an unknown key is an error naming this
# file, its line and the key. Secrets never go here: ` + "`token login`" + ` puts them
# in tokend's store.
`

// writeProfile adds profile to the config file at path: the file is
// created (0600, its directory 0700) with default_profile = name (and
// daemon.store, if store is set), or the
// profile is appended to it, every byte already there kept. The result
// must load as tokend loads it, else nothing is written. A profile of that
// name with the same settings is left alone (written is false); one with
// other settings is an error.
func writeProfile(path, name, profile, store string) (written bool, err error) {
	target := path
	if t, err := filepath.EvalSymlinks(path); err == nil {
		target = t // a config linked from a dotfiles repository stays linked
	}
	old, err := os.ReadFile(target)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	var next []byte
	if exists {
		cfg, err := config.Parse(path, old)
		if err != nil {
			return false, fmt.Errorf("%w\n(the config does not load as it is; fix it first, `tokend config check` says what is wrong)", err)
		}
		if store != "" && cfg.Daemon.Store != store {
			return false, fmt.Errorf("%s has the %s store (daemon.store): set it to %q there (tokend then needs a restart), or leave out --store", path, cfg.Daemon.Store, store)
		}
		if have, ok := cfg.Profiles[name]; ok {
			want, err := config.Parse(path, []byte(profile))
			if err != nil {
				return false, err
			}
			if reflect.DeepEqual(have, want.Profiles[name]) {
				return false, nil
			}
			return false, fmt.Errorf("profile %s is in %s already, with other settings: edit it there, or choose another name", name, path)
		}
		next = append(next, old...)
		if len(next) > 0 && next[len(next)-1] != '\n' {
			next = append(next, '\n')
		}
	} else {
		next = append(next, configHeader...)
		next = append(next, fmt.Sprintf("default_profile = %s\n", tomlString(name))...)
		if store != "" {
			next = append(next, fmt.Sprintf("\n[daemon]\nstore = %s   # keyring (the default) | file | memory; a change needs a restart of tokend\n", tomlString(store))...)
		}
	}
	next = append(next, profile...)
	if _, err := config.Parse(path, next); err != nil {
		return false, fmt.Errorf("the profile would not load: %w", err)
	}
	if !exists {
		if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
			return false, fmt.Errorf("create the config directory: %w", err)
		}
	}
	perm := fs.FileMode(0o600)
	if fi, err := os.Stat(target); err == nil {
		perm = fi.Mode().Perm()
	}
	if err := atomicfile.Write(target, next, perm, nil); err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	return true, nil
}

// startDaemon starts `tokend serve` in the background, logging to a file
// in its state directory, and waits until it answers. configFlag, if set,
// is passed on as --config.
func (a *app) startDaemon(ctx context.Context, configFlag string) (*setupDaemon, error) {
	exe, err := tokendExecutable()
	if err != nil {
		return nil, err
	}
	state, err := config.StateDir()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(state, 0o700); err != nil {
		return nil, fmt.Errorf("create the state directory: %w", err)
	}
	logFile := filepath.Join(state, "tokend.log")
	args := []string{"serve", "--log-file", logFile}
	if configFlag != "" {
		abs, err := filepath.Abs(configFlag)
		if err != nil {
			return nil, err
		}
		args = append(args, "--config", abs)
	}
	cmd := exec.Command(exe, args...)
	detach(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start tokend: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	d := &setupDaemon{PID: cmd.Process.Pid, Started: true, Log: logFile}
	deadline := time.Now().Add(20 * time.Second)
	for {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := a.client().Status(sctx)
		cancel()
		if err == nil {
			d.PID, d.Socket = st.PID, a.client().Socket()
			return d, nil
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("tokend stopped at once (%v): %s", err, lastLines(logFile, 5))
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("tokend (pid %d) did not answer in 20s: see %s", d.PID, logFile)
		}
	}
}

// tokendExecutable is the tokend next to this token (go install puts both
// in one place), else the one on PATH.
func tokendExecutable() (string, error) {
	name := "tokend"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	p, err := exec.LookPath("tokend")
	if err != nil {
		return "", fmt.Errorf("no tokend next to token or on PATH: install it (go install github.com/tokend/tokend/cmd/tokend@latest)")
	}
	return p, nil
}

// lastLines is the end of a log file, for a daemon that stopped at once.
func lastLines(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "see " + path
	}
	defer f.Close()
	data, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("; ")))
}
