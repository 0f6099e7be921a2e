package safesocket

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/tokend/tokend/internal/peercred"
	"github.com/tokend/tokend/internal/winpipe"
)

// pipes: the endpoint is a named pipe here.
const pipes = true

// listenPipe creates the daemon's pipe, owner-only (pipeSDDL), checks
// that the kernel holds the descriptor it was given, and accepts only
// clients whose process runs as the user.
func listenPipe(name string) (net.Listener, error) {
	if err := winpipe.CheckName(name); err != nil {
		return nil, fmt.Errorf("%s: on Windows tokend listens on a named pipe (%w): set TOKEND_SOCKET or daemon.socket to %sNAME, or leave both unset", name, err, winpipe.Prefix)
	}
	own, err := peercred.OwnSID()
	if err != nil {
		return nil, err
	}
	sddl, err := pipeSDDL(own)
	if err != nil {
		return nil, err
	}
	ln, err := winpipe.Listen(name, sddl)
	if errors.Is(err, winpipe.ErrExists) {
		return nil, whosePipe(name, own)
	}
	if err != nil {
		return nil, err
	}
	if err := checkPipeSecurity(ln, own); err != nil {
		ln.Close()
		return nil, fmt.Errorf("%w: pipe %s: %w", ErrUnsafe, name, err)
	}
	return &pipeListener{Listener: ln, own: own}, nil
}

// whosePipe explains why a pipe name is taken: the user's own daemon
// (ErrInUse), or someone else's pipe (ErrUnsafe, naming its owner).
func whosePipe(name, own string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, _, err := dialPipeAs(ctx, name, own)
	if err == nil {
		c.Close()
		return fmt.Errorf("%s: %w", name, ErrInUse)
	}
	if errors.Is(err, ErrUnsafe) {
		return fmt.Errorf("%w; set TOKEND_SOCKET or daemon.socket to another %sNAME", err, winpipe.Prefix)
	}
	return fmt.Errorf("pipe %s exists, but nothing answered on it (%w): a tokend that hangs, or another user's pipe; stop that process, or set TOKEND_SOCKET or daemon.socket to another %sNAME", name, err, winpipe.Prefix)
}

// checkPipeSecurity reads back the pipe's owner and DACL (checkDACL).
func checkPipeSecurity(ln *winpipe.Listener, own string) error {
	sd, err := ln.Security()
	if err != nil {
		return err
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return fmt.Errorf("owner: %w", err)
	}
	ctl, _, err := sd.Control()
	if err != nil {
		return err
	}
	dacl, _, err := sd.DACL()
	if errors.Is(err, windows.ERROR_OBJECT_NOT_FOUND) || (err == nil && dacl == nil) {
		return checkDACL(owner.String(), false, false, nil, own)
	}
	if err != nil {
		return fmt.Errorf("DACL: %w", err)
	}
	aces := make([]ace, dacl.AceCount)
	for i := range aces {
		var a *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, uint32(i), &a); err != nil {
			return fmt.Errorf("DACL entry %d: %w", i, err)
		}
		aces[i].mask = uint32(a.Mask)
		switch a.Header.AceType {
		case windows.ACCESS_ALLOWED_ACE_TYPE:
			aces[i].allow = true
			aces[i].sid = (*windows.SID)(unsafe.Pointer(&a.SidStart)).String()
		case windows.ACCESS_DENIED_ACE_TYPE:
			aces[i].sid = (*windows.SID)(unsafe.Pointer(&a.SidStart)).String()
		default: // object or callback entries, which allow by other rules
			aces[i].allow, aces[i].sid = true, fmt.Sprintf("an entry of type %d", a.Header.AceType)
		}
	}
	return checkDACL(owner.String(), true, ctl&windows.SE_DACL_PROTECTED != 0, aces, own)
}

// pipeListener hands out only connections from processes of the user
// own: any other is closed before a byte is read (the DACL should have
// kept it out; this is the second lock, as the socket guard is on unix).
type pipeListener struct {
	*winpipe.Listener
	own string
}

func (l *pipeListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if cred, err := peercred.Get(c); err == nil && cred.SID == l.own {
			return c, nil
		}
		c.Close()
	}
}

// dialPipe connects to the daemon's pipe, and only if the process serving
// it runs as the user.
func dialPipe(ctx context.Context, name string) (net.Conn, peercred.Cred, error) {
	if err := winpipe.CheckName(name); err != nil {
		return nil, peercred.Cred{}, fmt.Errorf("%s: on Windows tokend listens on a named pipe (%w): set TOKEND_SOCKET or daemon.socket to %sNAME, or leave both unset", name, err, winpipe.Prefix)
	}
	own, err := peercred.OwnSID()
	if err != nil {
		return nil, peercred.Cred{}, err
	}
	return dialPipeAs(ctx, name, own)
}

// dialPipeAs connects to the pipe name if its server runs as the user own.
func dialPipeAs(ctx context.Context, name, own string) (net.Conn, peercred.Cred, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	c, err := winpipe.Dial(ctx, name)
	if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		return nil, peercred.Cred{}, fmt.Errorf("%w: %s exists and does not let you (%s) in: it is another user's", ErrUnsafe, name, describeSID(own))
	}
	if err != nil {
		return nil, peercred.Cred{}, err
	}
	cred, err := peercred.Get(c)
	if err != nil {
		c.Close()
		return nil, peercred.Cred{}, fmt.Errorf("%w: cannot identify the process serving %s: %w", ErrUnsafe, name, err)
	}
	if cred.SID != own {
		c.Close()
		return nil, peercred.Cred{}, fmt.Errorf("%w: %s is served by %s (pid %d), not by you (%s)", ErrUnsafe, name, describeSID(cred.SID), cred.PID, describeSID(own))
	}
	return c, cred, nil
}

// describeSID is "S-1-5-21-…-1001 (DOMAIN\name)", or the SID alone when
// the account is unknown. Only refusals call it.
func describeSID(s string) string {
	sid, err := windows.StringToSid(s)
	if err != nil {
		return s
	}
	account, domain, _, err := sid.LookupAccount("")
	if err != nil || account == "" {
		return s
	}
	if domain != "" {
		account = domain + `\` + account
	}
	return s + " (" + account + ")"
}
