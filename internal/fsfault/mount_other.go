//go:build !linux

package fsfault

import "errors"

var errUnsupported = errors.New("mounting needs Linux")

func supported() error             { return errUnsupported }
func mountTmpfs(string, int) error { return errUnsupported }
func bindReadOnly(string) error    { return errUnsupported }
func unmount(string) error         { return errUnsupported }
func isNoSpace(error) bool         { return false }
