package safesocket

import (
	"fmt"
	"strings"

	"github.com/tokend/tokend/internal/peercred"
)

// On Windows the daemon's endpoint is a named pipe (pipe_windows.go); the
// rules it follows are here, in code every system builds and tests.

// pipeSDDL is the security descriptor of the daemon's pipe: owned by the
// user sid, with a protected DACL (nothing inherited) whose one entry
// gives that user full access. Nobody else may open it: not another user,
// not Administrators, not SYSTEM (as no other uid, root included, may use
// the socket elsewhere; SYSTEM and administrators could take the pipe's
// ownership anyway, so leaving them out protects nothing more, and
// admitting them would serve tokens to every service running as SYSTEM).
func pipeSDDL(sid string) (string, error) {
	if err := peercred.CheckSID(sid); err != nil {
		return "", err
	}
	return "O:" + sid + "D:P(A;;GA;;;" + sid + ")", nil
}

// ace is one entry of a DACL, as Windows reads it back.
type ace struct {
	allow bool   // an access-allowed entry (else one that denies, or another kind)
	sid   string // whom it is about
	mask  uint32 // what it allows or denies
}

// checkDACL checks a pipe's security as the kernel holds it: owned by
// own, a protected DACL that allows something to own and nothing to
// anyone else. A nil DACL (everyone may do everything) is refused.
func checkDACL(owner string, present, protected bool, aces []ace, own string) error {
	switch {
	case owner != own:
		return fmt.Errorf("the pipe is owned by %s, not by %s", owner, own)
	case !present:
		return fmt.Errorf("the pipe has no DACL: everyone may open it")
	case !protected:
		return fmt.Errorf("the pipe's DACL inherits entries")
	}
	var ownAllowed bool
	for _, a := range aces {
		if !a.allow {
			continue // a denial takes nothing from the owner's rule
		}
		if !strings.EqualFold(a.sid, own) {
			return fmt.Errorf("the pipe's DACL admits %s", a.sid)
		}
		ownAllowed = a.mask != 0 || ownAllowed
	}
	if !ownAllowed {
		return fmt.Errorf("the pipe's DACL does not admit its owner %s", own)
	}
	return nil
}
