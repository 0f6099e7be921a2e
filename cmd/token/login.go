package main

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

	"github.com/tokend/tokend/client/wire"
)

func cmdLogin(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "login")
	username := f.String("username", "", "user name (password flow; the account to preselect with --browser)")
	passwordStdin := f.Bool("password-stdin", false, "read the password from standard input")
	secretStdin := f.Bool("client-secret-stdin", false, "read the client secret from standard input")
	refreshStdin := f.Bool("refresh-token-stdin", false, "read a refresh token obtained elsewhere from standard input")
	browser := f.Bool("browser", false, "sign in in a web browser")
	noBrowser := f.Bool("no-browser", false, "with --browser: print the sign-in URL instead of opening a browser")
	deviceCode := f.Bool("device-code", false, "sign in with a code entered on another device")
	password := f.String("password", "", "refused: use --password-stdin")
	certificate := f.String("certificate", "", "client certificate file: PEM (certificate and private key) or PFX; its password, if any, on stdin")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	profile, err := f.profileArg(pos, true)
	if err != nil {
		return err
	}
	if *password != "" {
		return usagef("login: refusing a password on the command line (ps and shell history would show it): pipe it to --password-stdin")
	}
	*browser = *browser || *noBrowser
	n := 0
	for _, b := range []bool{*browser, *deviceCode, *passwordStdin, *secretStdin, *refreshStdin, *certificate != ""} {
		if b {
			n++
		}
	}
	if n > 1 {
		return usagef("login: choose one way to sign in")
	}
	req := wire.LoginRequest{Profile: profile, Username: *username, TimeoutSeconds: int64((e.timeout + time.Second - 1) / time.Second)}
	switch {
	case *username != "" && !*passwordStdin && !*browser:
		return usagef("login: --username goes with --password-stdin (or --browser, to preselect the account)")
	case *browser:
		req.Flow = "browser"
	case *deviceCode:
		req.Flow = "device-code"
	case *passwordStdin:
		if *username == "" {
			return usagef("login: --password-stdin needs --username")
		}
		req.Flow = "password"
		if req.Password, err = readSecret(e.stdin, "password"); err != nil {
			return err
		}
	case *secretStdin:
		req.Flow = "client-secret"
		if req.ClientSecret, err = readSecret(e.stdin, "client secret"); err != nil {
			return err
		}
	case *refreshStdin:
		req.Flow = "refresh-token"
		if req.RefreshToken, err = readSecret(e.stdin, "refresh token"); err != nil {
			return err
		}
	case *certificate != "":
		req.Flow = "client-certificate"
		if req.Certificate, req.CertificatePassword, err = readCertificateFile(*certificate, e.stdin); err != nil {
			return err
		}
	default:
		// Flows that need nothing from the person (the Azure CLI's own
		// sign-in, the host's managed identity, a federated token file):
		// `token login` checks that a token comes, and clears
		// login_required.
		sctx, cancel := e.bounded(ctx)
		flow := profileFlow(sctx, e, profile)
		cancel()
		if noInputFlows[flow] {
			req.Flow = flow
			break
		}
		return usagef("login: say how to sign in: --browser, --device-code, --username U --password-stdin, --refresh-token-stdin, --client-secret-stdin or --certificate FILE")
	}
	ui := &loginUI{out: e.stderr, profile: profile, open: openBrowser}
	if *noBrowser {
		ui.open = nil
	}
	// A sign-in that waits on nobody is bounded like any request; one that
	// waits on the person is bounded by the daemon (or --timeout), and the
	// client checks meanwhile that the daemon answers.
	if d := e.timeout; d > 0 || !interactiveFlows[req.Flow] {
		if d == 0 {
			d = plainLoginTimeout
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d+loginGrace)
		defer cancel()
	}
	r, err := e.client().SignIn(ctx, req, ui.show)
	ui.stop()
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("sign-in to %s cancelled; nothing changed", profile)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "signed in to %s as %s\n", r.Profile, r.Account)
	return nil
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

// interactiveFlows wait on the person.
var interactiveFlows = map[string]bool{"browser": true, "device-code": true}

// plainLoginTimeout is the daemon's bound of a sign-in that waits on
// nobody; loginGrace is what the client adds to a sign-in's bound for the
// daemon to say how it ended.
const (
	plainLoginTimeout = 2 * time.Minute
	loginGrace        = 5 * time.Second
)

// noInputFlows sign in with nothing from the person.
var noInputFlows = map[string]bool{"azure-cli": true, "managed-identity": true, "workload-identity": true}

// profileFlow asks the daemon for the flow of profile; "" when it cannot
// tell.
func profileFlow(ctx context.Context, e *env, profile string) string {
	st, err := e.client().Status(ctx)
	if err != nil {
		return ""
	}
	for _, p := range st.Profiles {
		if p.Name == profile {
			return p.Flow
		}
	}
	return ""
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
			return "", "", usagef("login: %s is protected by a password, read from stdin: pipe it (printf %%s \"$PW\" | token login … --certificate %s), or </dev/null for a %s without one", path, path, what)
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
		return "", usagef("login: no %s on stdin", what)
	}
	return s, nil
}

func cmdLogout(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "logout")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	profile, err := f.profileArg(pos, true)
	if err != nil {
		return err
	}
	ctx, cancel := e.bounded(ctx)
	defer cancel()
	if err := e.client().Logout(ctx, profile); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "signed out of %s\n", profile)
	return nil
}
