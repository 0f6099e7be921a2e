//go:build !windows

package config

import "os"

// defaultPipe: the endpoint is a unix socket here.
func defaultPipe() string { return "" }

func stateBase() (string, error) { return os.UserConfigDir() }
