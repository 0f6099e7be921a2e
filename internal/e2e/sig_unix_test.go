//go:build unix

package e2e

import "syscall"

const sigterm = syscall.SIGTERM
