// Package configs holds tokend's data files: the example config and the
// user-service templates that `tokend install` fills in. The files are the
// source; this package only embeds them.
package configs

import "embed"

// Files are config.example.toml, tokend.service (systemd user unit),
// dev.tokend.plist (launchd agent) and tokend-task.xml (Task Scheduler
// logon task on Windows).
//
//go:embed config.example.toml tokend.service dev.tokend.plist tokend-task.xml
var Files embed.FS
