package main

import (
	"fmt"
	"io"

	"github.com/tokend/tokend/internal/config"
)

func configCheck(args []string, stdout io.Writer) error {
	if len(args) > 1 {
		return usagef("config check takes at most one FILE")
	}
	path := config.Path("")
	if len(args) == 1 {
		path = args[0]
	}
	cfg, err := config.Load(path, true)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok, %d profile(s)\n", path, len(cfg.Profiles))
	return nil
}
