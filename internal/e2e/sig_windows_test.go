package e2e

import "syscall"

// sigterm: these tests do not run on Windows (Process.Signal cannot send
// it there), but the package vets for GOOS=windows.
const sigterm = syscall.SIGTERM

var zeroSignal = syscall.Signal(0)
