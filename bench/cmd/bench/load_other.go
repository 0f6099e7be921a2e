//go:build !linux

package main

import (
	"context"
	"errors"
	"time"
)

type loader struct{}

func newLoader(target, int, float64) (*loader, error) {
	return nil, errors.New("the load generator runs on Linux only (epoll)")
}

func (*loader) run(context.Context, time.Time, bool) error { return nil }
func (*loader) latencies() []time.Duration                 { return nil }
func (*loader) close()                                     {}
