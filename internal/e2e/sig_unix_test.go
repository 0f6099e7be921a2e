//go:build unix

package e2e

import "syscall"

const sigterm = syscall.SIGTERM

// zeroSignal checks that a process exists.
var zeroSignal = syscall.Signal(0)
