//go:build unix

package tokencli

import (
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// relay passes the signals token receives on to the child. SIGINT and
// SIGQUIT from the terminal already reach the child (it is in token's
// foreground process group), so those are passed on only when token is not
// in the terminal's foreground: a second copy would interrupt the child's
// own clean-up.
type relay struct {
	ch   chan os.Signal
	done chan struct{}
}

// catchSignals starts catching signals, before the child starts, so that
// none kills token between its start and relay.to.
func catchSignals() *relay {
	r := &relay{ch: make(chan os.Signal, 8), done: make(chan struct{})}
	signal.Notify(r.ch, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	return r
}

// to relays the caught signals to p until stop.
func (r *relay) to(p *os.Process) {
	go func() {
		for {
			select {
			case sig := <-r.ch:
				if (sig == syscall.SIGINT || sig == syscall.SIGQUIT) && inForeground() {
					continue
				}
				_ = p.Signal(sig)
			case <-r.done:
				return
			}
		}
	}()
}

func (r *relay) stop() {
	signal.Stop(r.ch)
	close(r.done)
}

// inForeground reports whether token's process group owns its terminal.
func inForeground() bool {
	pgrp, err := unix.IoctlGetInt(int(os.Stdin.Fd()), unix.TIOCGPGRP)
	return err == nil && pgrp == unix.Getpgrp()
}

// waitChild waits for the child and returns its exit code as an exitWith;
// a child killed by a signal gives 128+signal, as in a shell.
func waitChild(cmd *exec.Cmd) error {
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return err
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return exitWith{code: 128 + int(ws.Signal())}
	}
	return exitWith{code: ee.ExitCode()}
}

func envKey(name string) string { return name }
