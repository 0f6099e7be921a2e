package tokendcli

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"text/template"
	"time"

	"github.com/spf13/cobra"

	"github.com/tokend/tokend/client"
	"github.com/tokend/tokend/configs"
	"github.com/tokend/tokend/internal/cli"
)

// service describes the user service of this platform.
type service struct {
	template string // file in configs/
	path     string // where the filled-in file goes
	enable   [][]string
	disable  [][]string
	stop     []string // run before disable, if set; it fails when nothing runs
	before   []string // run before enable, if set; it fails when nothing is loaded
	user     string   // Windows: the user's SID, for the task
	task     string   // Windows: the task's name
	utf16    bool     // write the file as UTF-16 (what schtasks /XML reads)
}

func userService() (*service, error) { return userServiceOf(runtime.GOOS) }

// userServiceOf describes the user service of goos.
func userServiceOf(goos string) (*service, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return nil, err
	}
	switch goos {
	case "linux":
		dir := os.Getenv("XDG_CONFIG_HOME")
		if dir == "" {
			dir = filepath.Join(home, ".config")
		}
		return &service{
			template: "tokend.service",
			path:     filepath.Join(dir, "systemd", "user", "tokend.service"),
			enable:   [][]string{{"systemctl", "--user", "daemon-reload"}, {"systemctl", "--user", "enable", "--now", "tokend.service"}},
			disable:  [][]string{{"systemctl", "--user", "disable", "--now", "tokend.service"}},
		}, nil
	case "darwin":
		path := filepath.Join(home, "Library", "LaunchAgents", "dev.tokend.plist")
		domain := "gui/" + strconv.Itoa(os.Getuid())
		return &service{
			template: "dev.tokend.plist",
			path:     path,
			// An agent loaded before (an earlier install) makes bootstrap
			// fail: boot it out first, which fails when none is loaded.
			before:  []string{"launchctl", "bootout", domain, path},
			enable:  [][]string{{"launchctl", "bootstrap", domain, path}},
			disable: [][]string{{"launchctl", "bootout", domain, path}},
		}, nil
	case "windows":
		return logonTask()
	}
	return nil, fmt.Errorf("tokend install supports Linux (systemd), macOS (launchd) and Windows (Task Scheduler), where tokend runs; not %s", goos)
}

// serviceData is what a service template is filled in with.
type serviceData struct {
	Executable, Config, LogFile string
	User, Task                  string // Windows: the user's SID, the task's name
}

// render fills in a service template.
func render(name, executable, cfg, logFile string) ([]byte, error) {
	return renderData(name, serviceData{Executable: executable, Config: cfg, LogFile: logFile})
}

func renderData(name string, d serviceData) ([]byte, error) {
	src, err := configs.Files.ReadFile(name)
	if err != nil {
		return nil, err
	}
	t, err := template.New(name).Funcs(template.FuncMap{
		"quote": strconv.Quote,
		"xml": func(s string) string {
			var b bytes.Buffer
			xml.EscapeText(&b, []byte(s))
			return b.String()
		},
		"winquote": winQuote,
	}).Parse(string(src))
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	err = t.Execute(&b, d)
	return b.Bytes(), err
}

func newInstallCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Run tokend as a user service, started at logon",
		Long: `Run tokend as a user service: a systemd user unit on Linux
(~/.config/systemd/user/tokend.service), a launchd agent on macOS
(~/Library/LaunchAgents/dev.tokend.plist), a Task Scheduler logon task on
Windows (tokend-<your SID>), filled in from the templates in configs/ with
this tokend's path, then enabled and started. No administrator is needed.
A tokend of yours that runs outside the service (` + "`token setup`" + ` starts one
in the background) is stopped first: the service takes its socket.`,
		Example: `  tokend install
  tokend install --print            # show the unit, change nothing`,
		Args: cli.NoArgs,
	}
	cfgFlag := cmd.Flags().String("config", "", "a config `FILE` the service passes to `tokend serve`")
	print := cmd.Flags().Bool("print", false, "print the service file instead of installing it")
	noStart := cmd.Flags().Bool("no-start", false, "write the file but do not enable or start the service")
	cmd.MarkFlagFilename("config", "toml")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return install(*cfgFlag, *print, *noStart, a.stdout, a.stderr)
	}
	return cmd
}

func install(cfgFlag string, print, noStart bool, stdout, stderr io.Writer) error {
	svc, err := userService()
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return err
	}
	cfg := cfgFlag
	if cfg != "" {
		if cfg, err = filepath.Abs(cfg); err != nil {
			return err
		}
	}
	logFile := filepath.Join(filepath.Dir(svc.path), "tokend.log")
	if home, err := os.UserHomeDir(); err == nil && runtime.GOOS == "darwin" {
		logFile = filepath.Join(home, "Library", "Logs", "tokend.log")
	}
	data, err := renderData(svc.template, serviceData{Executable: exe, Config: cfg, LogFile: logFile, User: svc.user, Task: svc.task})
	if err != nil {
		return err
	}
	if print {
		_, err := stdout.Write(data)
		return err
	}
	if err := os.MkdirAll(filepath.Dir(svc.path), 0o755); err != nil {
		return err
	}
	if svc.utf16 {
		data = utf16LE(data)
	}
	if err := os.WriteFile(svc.path, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", svc.path, err)
	}
	fmt.Fprintf(stderr, "wrote %s\n", svc.path)
	if noStart {
		return nil
	}
	if err := stopRunning(stderr); err != nil {
		return err
	}
	if svc.before != nil {
		exec.Command(svc.before[0], svc.before[1:]...).Run() // fails when nothing is loaded
	}
	return runAll(svc.enable, stderr, "the file is in place; start it with: ")
}

// stopRunning stops the user's tokend if one runs (`token setup` starts
// one in the background), so that the service can take its socket.
func stopRunning(stderr io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := client.Default()
	st, err := c.Status(ctx)
	if err != nil {
		return nil // none runs (or none of the user's: the service will say)
	}
	if err := terminate(st.PID); err != nil {
		return fmt.Errorf("stop the tokend that runs now (pid %d), then run `tokend install` again: %w", st.PID, err)
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Status(sctx)
		cancel()
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("tokend (pid %d) still runs 15s after it was asked to stop", st.PID)
		}
	}
	fmt.Fprintf(stderr, "stopped tokend (pid %d), which ran outside the service\n", st.PID)
	return nil
}

func newUninstallCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "uninstall",
		Short: "Stop and remove the user service",
		Long: `Stop the user service that ` + "`tokend install`" + ` set up and remove its file.
Where it cannot be stopped, the file stays (so that the service manager
still knows what runs), and the message says how to stop it by hand.`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return uninstall(a.stderr) },
	}
}

func uninstall(stderr io.Writer) error {
	svc, err := userService()
	if err != nil {
		return err
	}
	if _, err := os.Stat(svc.path); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stderr, "%s is not installed\n", svc.path)
		return nil
	}
	if svc.stop != nil {
		exec.Command(svc.stop[0], svc.stop[1:]...).Run() // fails when it is not running
	}
	if err := runAll(svc.disable, stderr, "could not stop the service, so its file stays at "+svc.path+"; stop it with: "); err != nil {
		return fmt.Errorf("%w\nthen run `tokend uninstall` again", err)
	}
	if err := os.Remove(svc.path); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "removed %s\n", svc.path)
	return nil
}

func runAll(cmds [][]string, stderr io.Writer, hint string) error {
	for _, c := range cmds {
		out, err := exec.Command(c[0], c[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v: %s\n%s%s", c[0], err, bytes.TrimSpace(out), hint, joinCmds(cmds))
		}
	}
	fmt.Fprintf(stderr, "ran: %s\n", joinCmds(cmds))
	return nil
}

func joinCmds(cmds [][]string) string {
	var b bytes.Buffer
	for i, c := range cmds {
		if i > 0 {
			b.WriteString(" && ")
		}
		for j, a := range c {
			if j > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(a)
		}
	}
	return b.String()
}
