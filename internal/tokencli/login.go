package tokencli

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/cli"
	"github.com/tokend/tokend/internal/flow"
)

func newLoginCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "login PROFILE",
		Short: "Sign a profile in",
		Long: `Sign PROFILE in with its flow; tokend keeps what the sign-in yields (a
refresh token, a secret, a certificate) and never prints it.

Without a flag, the profile's own flow runs: a browser or device-code
sign-in shows what to do, a password, refresh token or client secret is
read from stdin (never from the command line), and the Azure CLI, managed
and workload identity flows just check that a token comes. A flag picks
another way for one sign-in among those the profile allows: any user flow
(browser, device-code, password, refresh-token) signs in a user profile.`,
		Example: `  token login dbx                         # the profile's flow
  token login dbx --device-code           # over SSH: a code to enter on another device
  printf %s "$PW" | token login dbx --username you@example.com --password-stdin
  printf %s "$SECRET" | token login sp --client-secret-stdin
  token login sp --certificate sp.pem`,
		GroupID:           groupSignIn,
		Args:              profileArgs,
		ValidArgsFunction: a.completeProfileArg,
	}
	m := addMethodFlags(cmd)
	out := cli.AddOutput(cmd, "text", "json")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		if err := out.Check(); err != nil {
			return err
		}
		profile, err := a.profileArg(args, true)
		if err != nil {
			return err
		}
		method, explicit, err := m.chosen()
		if err != nil {
			return err
		}
		if !explicit {
			sctx, cancel := a.bounded(ctx)
			method, err = a.profileFlow(sctx, profile)
			cancel()
			if err != nil {
				return err
			}
		}
		r, err := a.signIn(ctx, profile, m, method, explicit)
		if err != nil {
			return err
		}
		if out.JSON() {
			return cli.WriteJSON(a.stdout, r)
		}
		return nil
	})
	return cmd
}

// methodFlags are the flags that say how to sign in, one per flow that
// needs something typed (internal/flow), and the inputs that go with them.
type methodFlags struct {
	picks       map[flow.Name]*bool
	certificate string // --certificate FILE
	username    string
	noBrowser   bool
	password    string // refused
}

// addMethodFlags gives cmd the sign-in flags.
func addMethodFlags(cmd *cobra.Command) *methodFlags {
	m := &methodFlags{picks: map[flow.Name]*bool{}}
	f := cmd.Flags()
	for _, fl := range flow.All() {
		name := strings.TrimPrefix(fl.LoginFlag(), "--")
		switch {
		case name == "":
		case fl.Input == flow.CertificateFile:
			f.StringVar(&m.certificate, name, "", fl.Summary+": `FILE` is PEM (certificate and key) or PFX, its password (if any) on stdin")
		case fl.Input.Stdin() != "":
			m.picks[fl.Name] = f.Bool(name, false, fl.Summary+"; the "+fl.Input.Stdin()+" read from stdin")
		default:
			m.picks[fl.Name] = f.Bool(name, false, fl.Summary)
		}
	}
	f.StringVar(&m.username, "username", "", "the `USER` (password flow); with --browser, the account to preselect")
	f.BoolVar(&m.noBrowser, "no-browser", false, "with --browser: print the sign-in URL instead of opening a browser")
	f.StringVar(&m.password, "password", "", "refused: a password on the command line shows in ps and shell history (use --password-stdin)")
	f.MarkHidden("password")
	return m
}

// chosen is the flow the flags pick; explicit is false when they pick none
// (then the profile's own flow signs it in).
func (m *methodFlags) chosen() (method flow.Flow, explicit bool, err error) {
	if m.password != "" {
		return flow.Flow{}, false, cli.Usagef("refusing a password on the command line (ps and shell history would show it): pipe it to --password-stdin")
	}
	if m.noBrowser {
		*m.picks[flow.Browser] = true
	}
	var picked []flow.Name
	for _, fl := range flow.All() {
		if p := m.picks[fl.Name]; (p != nil && *p) || (fl.Input == flow.CertificateFile && m.certificate != "") {
			picked = append(picked, fl.Name)
		}
	}
	switch len(picked) {
	case 0:
		return flow.Flow{}, false, nil
	case 1:
		method = flow.Get(picked[0])
	default:
		return flow.Flow{}, false, cli.Usagef("choose one way to sign in")
	}
	if m.username != "" && method.Name != flow.Password && method.Name != flow.Browser {
		return flow.Flow{}, false, cli.Usagef("--username goes with --password-stdin (or --browser, to preselect the account)")
	}
	return method, true, nil
}

// request builds the sign-in request of method, reading what it needs.
// explicit says a flag chose the method; without one, a secret is read
// from stdin only when stdin is not a terminal (where it would echo).
func (m *methodFlags) request(a *app, profile string, method flow.Flow, explicit bool) (wire.LoginRequest, error) {
	req := wire.LoginRequest{Profile: profile, Flow: string(method.Name), Username: m.username,
		TimeoutSeconds: int64((a.timeout + time.Second - 1) / time.Second)}
	if m.username != "" && method.Name != flow.Password && method.Name != flow.Browser {
		return req, cli.Usagef("--username goes with --password-stdin (or --browser, to preselect the account); profile %s signs in with %s", profile, method.Name)
	}
	if what := method.Input.Stdin(); what != "" && method.Input != flow.CertificateFile && !explicit && isTerminalReader(a.stdin) {
		return req, cli.Usagef("profile %s signs in with a %s, read from stdin: pipe it (printf %%s \"$SECRET\" | %s)", profile, what, method.LoginCommand(profile))
	}
	var err error
	switch method.Input {
	case flow.UsernamePassword:
		if m.username == "" && explicit {
			return req, cli.Usagef("--password-stdin needs --username")
		}
		if m.username == "" {
			return req, cli.Usagef("profile %s signs in with a password: give --username USER, and the password on stdin", profile)
		}
		req.Password, err = readSecret(a.stdin, "password")
	case flow.RefreshTokenStdin:
		req.RefreshToken, err = readSecret(a.stdin, "refresh token")
	case flow.ClientSecretStdin:
		req.ClientSecret, err = readSecret(a.stdin, "client secret")
	case flow.CertificateFile:
		if m.certificate == "" {
			return req, cli.Usagef("profile %s signs in with a certificate: name its file, `token login %s --certificate FILE`", profile, profile)
		}
		req.Certificate, req.CertificatePassword, err = readCertificateFile(m.certificate, a.stdin)
	}
	return req, err
}

// signIn signs profile in with method and reports it on stderr.
func (a *app) signIn(ctx context.Context, profile string, m *methodFlags, method flow.Flow, explicit bool) (*wire.LoginResult, error) {
	req, err := m.request(a, profile, method, explicit)
	if err != nil {
		return nil, err
	}
	ui := &loginUI{out: a.stderr, profile: profile, open: openBrowser}
	if m.noBrowser {
		ui.open = nil
	}
	// A sign-in that waits on nobody is bounded like any request; one that
	// waits on the person is bounded by the daemon (or --timeout), and the
	// client checks meanwhile that the daemon answers.
	if d := a.timeout; d > 0 || !method.Interactive {
		if d == 0 {
			d = plainLoginTimeout
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d+loginGrace)
		defer cancel()
	}
	r, err := a.client().SignIn(ctx, req, ui.show)
	ui.stop()
	if errors.Is(err, context.Canceled) {
		return nil, fmt.Errorf("sign-in to %s cancelled; nothing changed", profile)
	}
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(a.stderr, "signed in to %s as %s\n", r.Profile, r.Account)
	return r, nil
}

// loginUI shows the user what an interactive sign-in needs, then waits
// with a spinner (on a terminal) until the daemon says how it ended.
type loginUI struct {
	out     io.Writer
	profile string
	open    func(url string) error // nil: print the URL only (--no-browser)

	once sync.Once
	done chan struct{}
	wg   sync.WaitGroup
}

func (u *loginUI) show(ev wire.LoginEvent) {
	switch ev.Event {
	case wire.EventOpenURL:
		switch {
		case u.open == nil:
			fmt.Fprintf(u.out, "To sign in to %s, open this URL in a browser:\n\n    %s\n\n", u.profile, ev.URL)
		case u.open(ev.URL) != nil:
			fmt.Fprintf(u.out, "Could not open a browser. To sign in to %s, open this URL in one:\n\n    %s\n\n", u.profile, ev.URL)
		default:
			fmt.Fprintf(u.out, "Opened a browser to sign in to %s. If none appeared, open this URL:\n\n    %s\n\n", u.profile, ev.URL)
		}
		u.wait("waiting for the sign-in in the browser")
	case wire.EventDeviceCode:
		fmt.Fprintln(u.out, ev.Message)
		u.wait("waiting for the code to be entered")
	}
}

// wait shows what is awaited until stop: a spinner on a terminal, one line
// elsewhere.
func (u *loginUI) wait(what string) {
	u.once.Do(func() {
		u.done = make(chan struct{})
		if !isTerminal(u.out) {
			fmt.Fprintf(u.out, "%s (Ctrl-C cancels)...\n", what)
			return
		}
		u.wg.Go(func() {
			frames := `|/-\`
			t := time.NewTicker(120 * time.Millisecond)
			defer t.Stop()
			for i := 0; ; i++ {
				fmt.Fprintf(u.out, "\r%c %s (Ctrl-C cancels)", frames[i%len(frames)], what)
				select {
				case <-u.done:
					fmt.Fprint(u.out, "\r\033[K")
					return
				case <-t.C:
				}
			}
		})
	})
}

func (u *loginUI) stop() {
	if u.done != nil {
		close(u.done)
		u.wg.Wait()
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// openBrowser opens url in the user's browser: $BROWSER if set (a command;
// "%s" in it stands for the URL, else the URL is its last argument), else
// the system's opener.
func openBrowser(url string) error {
	var argv []string
	if b := strings.Fields(os.Getenv("BROWSER")); len(b) > 0 {
		argv = b
		if !strings.Contains(strings.Join(b, " "), "%s") {
			argv = append(argv, url)
		}
		for i, a := range argv {
			argv[i] = strings.ReplaceAll(a, "%s", url)
		}
	} else {
		switch runtime.GOOS {
		case "darwin":
			argv = []string{"open", url}
		case "windows":
			argv = []string{"rundll32", "url.dll,FileProtocolHandler", url}
		default:
			argv = []string{"xdg-open", url}
		}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	if err := cmd.Start(); err != nil {
		return err
	}
	// Openers (xdg-open, open) return at once, failing when they found no
	// browser; a browser run directly may stay: give it a moment, then
	// take it as opened.
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(3 * time.Second):
		return nil
	}
}

// plainLoginTimeout is the daemon's bound of a sign-in that waits on
// nobody; loginGrace is what the client adds to a sign-in's bound for the
// daemon to say how it ended.
const (
	plainLoginTimeout = 2 * time.Minute
	loginGrace        = 5 * time.Second
)

// profileFlow asks the daemon for the flow of profile.
func (a *app) profileFlow(ctx context.Context, profile string) (flow.Flow, error) {
	st, err := a.client().Status(ctx)
	if err != nil {
		return flow.Flow{}, err
	}
	for _, p := range st.Profiles {
		if p.Name == profile {
			f, ok := flow.Lookup(flow.Name(p.Flow))
			if !ok {
				return flow.Flow{}, fmt.Errorf("profile %s has flow %q, which this token does not know: is tokend of another version?", profile, p.Flow)
			}
			return f, nil
		}
	}
	return flow.Flow{}, noProfile(st, profile)
}

// maxCertificateFile bounds the file sent to the daemon (its requests stop
// at 64 KiB, and base64 adds a third).
const maxCertificateFile = 40 << 10

// readCertificateFile reads a certificate file for the daemon: its content
// in base64 and, for a PFX or an encrypted PEM key, the password from
// stdin (which may be empty: Key Vault's PFX downloads have none).
func readCertificateFile(path string, stdin io.Reader) (cert, password string, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", "", fmt.Errorf("login: %w", err)
	}
	if fi.Size() > maxCertificateFile {
		return "", "", fmt.Errorf("login: %s is %d bytes, too large for a certificate (at most %d)", path, fi.Size(), maxCertificateFile)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", "", fmt.Errorf("login: %w", err)
	}
	pemFile := bytes.Contains(data, []byte("-----BEGIN "))
	if !pemFile || bytes.Contains(data, []byte("ENCRYPTED PRIVATE KEY")) {
		what := "PFX"
		if pemFile {
			what = "private key"
		}
		if isTerminalReader(stdin) {
			return "", "", cli.Usagef("%s is protected by a password, read from stdin: pipe it (printf %%s \"$PW\" | token login … --certificate %s), or </dev/null for a %s without one", path, path, what)
		}
		b, err := io.ReadAll(io.LimitReader(stdin, 64<<10))
		if err != nil {
			return "", "", fmt.Errorf("read the %s password from stdin: %w", what, err)
		}
		password = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	}
	return base64.StdEncoding.EncodeToString(data), password, nil
}

func isTerminalReader(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// readSecret reads one secret from stdin, without its trailing newline.
func readSecret(r io.Reader, what string) (string, error) {
	data, err := io.ReadAll(io.LimitReader(r, 64<<10))
	if err != nil {
		return "", fmt.Errorf("read %s from stdin: %w", what, err)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	if s == "" {
		return "", cli.Usagef("no %s on stdin", what)
	}
	return s, nil
}
