package main

import (
	"bytes"
	"os"

	"github.com/tokend/tokend/internal/config"
)

// resolveSocket finds the daemon: --socket, $TOKEND_SOCKET, daemon.socket in
// the config file, or the default path. The config file is parsed only when
// it mentions a socket, so the usual call does no parsing at all.
func resolveSocket(flag string) string {
	if flag != "" {
		return flag
	}
	if s := os.Getenv("TOKEND_SOCKET"); s != "" {
		return s
	}
	path := config.Path("")
	if data, err := os.ReadFile(path); err == nil && bytes.Contains(data, []byte("socket")) {
		if cfg, err := config.Parse(path, data); err == nil {
			return cfg.SocketPath()
		}
	}
	return config.DefaultSocket()
}
