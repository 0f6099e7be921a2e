//go:build unix

package main

import (
	"fmt"
	"os"
	"syscall"
	"time"
)

// timeProcess runs argv once with stdin, stdout and stderr on /dev/null
// and returns its wall time, from just before fork to its exit. It calls
// fork, exec and wait4 itself: os/exec's pipes and goroutines would add
// their own cost to every run.
func timeProcess(argv []string) (time.Duration, error) {
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer null.Close()
	fd := null.Fd()
	attr := &syscall.ProcAttr{Env: os.Environ(), Files: []uintptr{fd, fd, fd}}
	start := time.Now()
	pid, err := syscall.ForkExec(argv[0], argv, attr)
	if err != nil {
		return 0, err
	}
	var ws syscall.WaitStatus
	for {
		_, err = syscall.Wait4(pid, &ws, 0, nil)
		if err != syscall.EINTR {
			break
		}
	}
	d := time.Since(start)
	if err != nil {
		return 0, err
	}
	if !ws.Exited() || ws.ExitStatus() != 0 {
		return 0, fmt.Errorf("exit status %v", ws)
	}
	return d, nil
}

// childrenJiffies is the CPU time of the waited-for children, in clock
// ticks (1/100 s, as /proc counts).
func childrenJiffies() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru) != nil {
		return 0
	}
	us := ru.Utime.Sec*1e6 + int64(ru.Utime.Usec) + ru.Stime.Sec*1e6 + int64(ru.Stime.Usec)
	return us / 10000
}
