package peercred

import (
	"fmt"
	"net"
	"sync"

	"golang.org/x/sys/windows"

	"github.com/tokend/tokend/internal/winpipe"
)

// OwnUID is the number of this process's user (see sid.go); a peer whose
// SID is the same has it, and no other peer.
func OwnUID() int {
	sid, err := OwnSID()
	if err != nil {
		return -1 // as os.Getuid here: no peer's UID is negative
	}
	n, _ := sidUID(sid, sid)
	return n
}

// OwnSID is the user SID of this process's token.
func OwnSID() (string, error) { return ownSID() }

var ownSID = sync.OnceValues(func() (string, error) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return "", fmt.Errorf("this process's user: %w", err)
	}
	return u.User.Sid.String(), nil
})

// getPipe reads the credentials of the peer of a named-pipe connection:
// its process id from the pipe, then the user SID of that process's token.
func getPipe(c net.Conn) (Cred, bool, error) {
	pc, ok := c.(*winpipe.Conn)
	if !ok {
		return Cred{}, false, nil
	}
	pid, err := pc.PeerPID()
	if err != nil {
		return Cred{}, true, err
	}
	cred, err := processCred(pid)
	return cred, true, err
}

// processCred is the user of process pid. A process whose token this
// user may not read (another user's, usually) cannot be identified.
func processCred(pid int) (Cred, error) {
	sid, err := processSID(pid)
	if err != nil {
		return Cred{}, err
	}
	own, err := OwnSID()
	if err != nil {
		return Cred{}, err
	}
	uid, err := sidUID(sid, own)
	if err != nil {
		return Cred{}, err
	}
	return Cred{UID: uid, PID: pid, SID: sid}, nil
}

func processSID(pid int) (string, error) {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return "", fmt.Errorf("process %d: %w", pid, err)
	}
	defer windows.CloseHandle(h)
	var tok windows.Token
	if err := windows.OpenProcessToken(h, windows.TOKEN_QUERY, &tok); err != nil {
		return "", fmt.Errorf("token of process %d: %w", pid, err)
	}
	defer tok.Close()
	u, err := tok.GetTokenUser()
	if err != nil {
		return "", fmt.Errorf("user of process %d: %w", pid, err)
	}
	return u.User.Sid.String(), nil
}

// get is for unix sockets, which Windows cannot identify.
func get(uintptr) (Cred, error) { return Cred{}, ErrUnsupported }
