package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/tokend/tokend/client"
)

func cmdLogin(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "login")
	username := f.String("username", "", "user name (password flow)")
	passwordStdin := f.Bool("password-stdin", false, "read the password from standard input")
	secretStdin := f.Bool("client-secret-stdin", false, "read the client secret from standard input")
	password := f.String("password", "", "refused: use --password-stdin")
	var later []*bool
	for _, name := range []string{"device-code", "browser", "refresh-token-stdin"} {
		later = append(later, f.Bool(name, false, "not in this build yet"))
	}
	certificate := f.String("certificate", "", "not in this build yet")
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
	for _, b := range later {
		if *b {
			return fmt.Errorf("login: this sign-in method is not available in this build yet")
		}
	}
	if *certificate != "" {
		return fmt.Errorf("login: --certificate is not available in this build yet")
	}
	req := client.LoginRequest{Profile: profile, Username: *username}
	switch {
	case *passwordStdin && *secretStdin:
		return usagef("login: --password-stdin and --client-secret-stdin exclude each other")
	case *passwordStdin:
		if *username == "" {
			return usagef("login: --password-stdin needs --username")
		}
		if req.Password, err = readSecret(e.stdin, "password"); err != nil {
			return err
		}
	case *secretStdin:
		if req.ClientSecret, err = readSecret(e.stdin, "client secret"); err != nil {
			return err
		}
	case *username != "":
		return usagef("login: --username needs --password-stdin")
	default:
		return usagef("login: say how to sign in: --username U --password-stdin or --client-secret-stdin")
	}
	r, err := e.client().Login(ctx, req)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "signed in to %s as %s\n", r.Profile, r.Account)
	return nil
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
	if err := e.client().Logout(ctx, profile); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "signed out of %s\n", profile)
	return nil
}
