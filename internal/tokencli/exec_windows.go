//go:build windows

package tokencli

import (
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"strings"
)

// relay keeps token alive through Ctrl-C, which the console delivers to
// the child as well, so that token can revoke the capability after the
// child exits. Windows has no signals to pass on.
type relay struct{ ch chan os.Signal }

func catchSignals() *relay {
	r := &relay{ch: make(chan os.Signal, 1)}
	signal.Notify(r.ch, os.Interrupt)
	return r
}

func (r *relay) to(p *os.Process) {}

func (r *relay) stop() { signal.Stop(r.ch) }

// waitChild waits for the child and returns its exit code as an exitWith.
func waitChild(cmd *exec.Cmd) error {
	err := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return exitWith{code: ee.ExitCode()}
	}
	return err
}

// envKey folds case: Windows variable names are case-insensitive.
func envKey(name string) string { return strings.ToUpper(name) }
