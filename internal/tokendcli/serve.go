package tokendcli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tokend/tokend/daemon"
	"github.com/tokend/tokend/entraemu"
	"github.com/tokend/tokend/internal/cli"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/entra"
	"github.com/tokend/tokend/internal/idp"
	"github.com/tokend/tokend/internal/safesocket"
	"github.com/tokend/tokend/internal/version"
	"github.com/tokend/tokend/store"
)

func newServeCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the daemon in the foreground",
		Long: `Run the daemon in the foreground: it loads the config, opens the store,
signs nothing in by itself, fetches each profile's token, and serves tokens
on its socket (a named pipe on Windows) and, unless the config turns it
off, on a loopback TCP port. SIGHUP (and ` + "`token setup`" + `, through the API)
reloads the config; SIGINT and SIGTERM stop it gracefully.

--emulator also starts the built-in Entra ID emulator in-process and adds
the ready profiles "demo" (client secret; its databricks_host is the fake
Azure Databricks workspace the emulator serves at its own address) and
"demo-user" (username/password, already signed in): then run
` + "`token get demo`" + ` or ` + "`token exec demo -- env`" + `. The store defaults to
memory then.

Stores: keyring (default; the OS keychain holds the key that seals the
secrets in the state directory), file (headless machines: the key is a
file next to them, or derived from $TOKEND_STORE_PASSPHRASE), memory
(nothing kept).`,
		Example: `  tokend serve --emulator
  tokend serve --config ~/tokend.toml --log-format json --log-level debug`,
		Args: cli.NoArgs,
	}
	f := cmd.Flags()
	cfgFlag := f.String("config", "", "the config `FILE` (default: $TOKEND_CONFIG, else <user config dir>/tokend/config.toml)")
	storeFlag := f.String("store", "", "secret store: keyring, file or memory (default: the config's, else keyring; memory with --emulator)")
	emu := f.Bool("emulator", false, "start the built-in Entra ID emulator with the demo profiles")
	logFormat := f.String("log-format", "text", "log format: text or json")
	logLevel := f.String("log-level", "info", "log level: debug, info, warn or error")
	logFile := f.String("log-file", "", "append the log to this `FILE` instead of stderr")
	cmd.MarkFlagFilename("config", "toml")
	cmd.RegisterFlagCompletionFunc("store", cobra.FixedCompletions([]string{"keyring", "file", "memory"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.RegisterFlagCompletionFunc("log-format", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.RegisterFlagCompletionFunc("log-level", cobra.FixedCompletions([]string{"debug", "info", "warn", "error"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return serve(cmd.Context(), serveFlags{config: *cfgFlag, store: *storeFlag, emulator: *emu, logFormat: *logFormat, logLevel: *logLevel, logFile: *logFile}, a.stderr)
	}
	return cmd
}

type serveFlags struct {
	config, store       string
	emulator            bool
	logFormat, logLevel string
	logFile             string
}

func serve(ctx context.Context, fl serveFlags, stderr io.Writer) error {
	cfgFlag, storeFlag, emu, logFormat, logLevel, logFile := &fl.config, &fl.store, &fl.emulator, &fl.logFormat, &fl.logLevel, &fl.logFile
	logTo := stderr
	if *logFile != "" {
		f, err := os.OpenFile(*logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("--log-file: %w", err)
		}
		defer f.Close()
		logTo = f
		detachConsole()
	}
	log, err := newLogger(logTo, *logFormat, *logLevel)
	if err != nil {
		return err
	}
	if err := harden(); err != nil { // before any secret is in memory
		return fmt.Errorf("harden the daemon: %w", err)
	}
	cfgPath := config.Path(*cfgFlag)
	cfg, err := config.Load(cfgPath, *cfgFlag != "")
	if err != nil {
		return err
	}
	backend := cfg.Daemon.Store
	if *emu {
		backend = "memory"
	}
	if *storeFlag != "" {
		backend = *storeFlag
	}
	stateDir, err := config.StateDir()
	if err != nil {
		return err
	}
	st, err := store.Open(backend, stateDir, store.Options{})
	if err != nil {
		return fmt.Errorf("open %s store: %w", backend, err)
	}
	defer st.Close()
	if w := st.Warning(); w != "" {
		log.Warn(w)
	}
	// Whether sign-ins can be kept is measured now, not assumed: a store
	// that cannot write says so before anyone signs in.
	probeCtx, cancelProbe := context.WithTimeout(ctx, 10*time.Second)
	if err := st.Probe(probeCtx); err != nil {
		log.Error("sign-ins cannot be saved: a sign-in will fail, and a refresh token rotated meanwhile lives only in memory until the store works", "store", backend, "err", err)
	}
	cancelProbe()

	var em *entraemu.Emulator
	if *emu {
		if em, err = startEmulator(ctx, cfg, st, stateDir, log); err != nil {
			return err
		}
		defer em.Close()
	}

	// The configuration again, for SIGHUP and POST /v1/reload (token setup).
	loadConfig := func() (*config.Config, error) {
		next, err := config.Load(cfgPath, *cfgFlag != "")
		if err != nil {
			return nil, err
		}
		if em != nil {
			addDemoProfiles(next, em, log)
		}
		if !reflect.DeepEqual(next.Daemon, cfg.Daemon) {
			log.Warn("daemon settings (socket, http, store, keepalive, notify, scope-set limits) changed: restart tokend to apply them")
		}
		return next, nil
	}
	srv, err := daemon.New(daemon.Config{
		Config:       cfg,
		LoadConfig:   loadConfig,
		Store:        st,
		Capabilities: st,
		Logger:       log,
		Sources: func(p *config.Profile) (daemon.Source, error) {
			return entra.New(p, entra.Options{Secrets: st, Logger: log})
		},
		Version:                version.String(),
		KeepAlive:              cfg.Daemon.KeepAliveEvery,
		MaxScopeSets:           cfg.Daemon.MaxScopeSets,
		MaxCapabilityScopeSets: cfg.Daemon.MaxCapabilityScopeSets,
		OnLoginRequired: func(profile, fix string) {
			if cfg.Daemon.Notify {
				notify(log, "tokend: "+profile+" needs a new sign-in", "Run: "+fix)
			}
		},
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	// Capabilities handed out before a restart work again at once; a
	// store that cannot read them says so now (and is retried).
	srv.LoadCapabilities(ctx)

	sock, err := safesocket.Listen(cfg.SocketPath())
	if err != nil {
		if errors.Is(err, safesocket.ErrInUse) {
			return fmt.Errorf("%w (stop it first, or set TOKEND_SOCKET to run another)", err)
		}
		return err
	}
	// Clients whose environment leads them elsewhere find the socket here.
	if err := config.WriteSocketRecord(cfg.SocketPath()); err != nil {
		log.Warn("clients that look for tokend elsewhere will not find it", "err", err)
	}
	listeners := []net.Listener{sock}
	if addr, from := cfg.HTTPAddr(); addr != "" {
		tcp, err := daemon.ListenTCP(addr, from)
		if err != nil {
			sock.Close()
			return err
		}
		listeners = append(listeners, tcp...)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv.Listening(listeners...)
	go reloadOnHUP(ctx, srv, log)
	var wg sync.WaitGroup
	errc := make(chan error, len(listeners)+1)
	for _, ln := range listeners {
		wg.Go(func() { errc <- srv.Run(ctx, ln) })
	}
	wg.Go(func() { errc <- srv.RunRefresher(ctx) })

	addrs := []string{"socket " + sock.Addr().String()}
	for _, ln := range listeners[1:] {
		addrs = append(addrs, "http "+ln.Addr().String())
	}
	log.Info("tokend ready", "version", version.String(), "store", backend, "listeners", strings.Join(addrs, ", "))
	firstRun(log, cfg, cfgPath, em != nil)
	if em != nil {
		fmt.Fprintf(stderr, "\nEntra ID emulator at %s (CA: %s)\nAzure Databricks workspace (fake) at %s\nProfiles ready: demo (client secret, databricks_host = the workspace), demo-user (%s, signed in)\nNext, in another terminal:\n  token get demo\n  token exec demo -- env\n  token status\n\n",
			em.Authority(), em.Fixture().CAFile, em.URL(), entraemu.Username)
	}

	var first error
	select {
	case first = <-errc:
	case <-ctx.Done():
	}
	cancel()
	wg.Wait()
	return first
}

// startEmulator runs the emulator in-process and adds the demo profiles.
func startEmulator(ctx context.Context, cfg *config.Config, st store.Backend, stateDir string, log *slog.Logger) (*entraemu.Emulator, error) {
	dir := filepath.Join(stateDir, "emulator")
	em, err := entraemu.New(entraemu.Config{Dir: dir, Logger: log.With("component", "emulator")})
	if err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	if err := em.Start("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	fx := em.Fixture()
	if _, err := writeFixture(dir, fx); err != nil {
		em.Close()
		return nil, err
	}
	addDemoProfiles(cfg, em, log)
	if err := signInDemo(ctx, cfg, st, log); err != nil {
		em.Close()
		return nil, err
	}
	if fx.CAFile == "" {
		em.Close()
		return nil, errors.New("emulator wrote no CA file")
	}
	if _, err := os.Stat(fx.CAFile); err != nil {
		em.Close()
		return nil, fmt.Errorf("emulator CA: %w", err)
	}
	return em, nil
}

// signInDemo signs the demo profiles in, each through its own source as
// `token login` would have it do: what they keep goes to the store, where
// the daemon's sources find it.
func signInDemo(ctx context.Context, cfg *config.Config, st store.Backend, log *slog.Logger) error {
	for name, req := range map[string]idp.LoginRequest{
		"demo":      {ClientSecret: entraemu.ClientSecret},
		"demo-user": {Username: entraemu.Username, Password: entraemu.Password},
	} {
		src, err := entra.New(cfg.Profiles[name], entra.Options{Secrets: st, Logger: log})
		if err == nil {
			_, err = src.Login(ctx, req)
		}
		if err != nil {
			return fmt.Errorf("sign %s in to the emulator: %w", name, err)
		}
	}
	return nil
}

// addDemoProfiles adds the --emulator profiles "demo" and "demo-user" to
// cfg. demo's databricks_host is the fake Azure Databricks workspace the
// emulator serves at its own address, so `token exec demo` sets the
// Databricks variables.
func addDemoProfiles(cfg *config.Config, em *entraemu.Emulator, log *slog.Logger) {
	for _, p := range []*config.Profile{
		{Name: "demo", Flow: "client-secret", ClientID: entraemu.ConfidentialClientID, DatabricksHost: em.URL()},
		{Name: "demo-user", Flow: "password", ClientID: entraemu.PublicClientID},
	} {
		if _, taken := cfg.Profiles[p.Name]; taken {
			log.Warn("--emulator replaces the profile of the same name in the config", "profile", p.Name)
		}
		p.Authority = em.Authority()
		p.CAFile = em.Fixture().CAFile
		p.Scopes = []string{config.DatabricksScope}
		p.Cloud = "public"
		cfg.Profiles[p.Name] = p
	}
	if cfg.DefaultProfile == "" {
		cfg.DefaultProfile = "demo"
	}
}

// reloadOnHUP re-reads the config on SIGHUP and applies its profiles. A
// config that does not load is logged and changes nothing.
func reloadOnHUP(ctx context.Context, srv *daemon.Server, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		if _, _, err := srv.ReloadConfig(); err != nil {
			log.Error("config reload failed; keeping the running config", "err", err)
		}
	}
}

// firstRun says, on a daemon with nothing to serve, where the config goes
// and how to add a profile.
func firstRun(log *slog.Logger, cfg *config.Config, path string, emulator bool) {
	switch {
	case emulator || len(cfg.Profiles) > 0:
	case !config.Exists(path):
		log.Warn("no config file yet, so no profiles: `token setup NAME --databricks-host URL` writes one and signs it in (or write it yourself, see `tokend config check --help`)", "path", path)
	default:
		log.Warn("no profiles in the config: `token setup NAME --databricks-host URL` adds one and signs it in", "path", path)
	}
}
