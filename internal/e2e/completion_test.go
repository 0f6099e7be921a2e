//go:build unix

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// needTool finds a program the test cannot do without: in CI a missing one
// fails the test (.ci/run installs it), elsewhere it skips.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("CI must install %s (apt-get install %s)", name, pkg)
	}
	t.Skipf("%s not installed (apt-get install %s)", name, pkg)
	return ""
}

// TestCompletionScripts: `token completion SHELL` and `tokend completion
// SHELL` print scripts that bash, zsh and fish load, and that complete
// commands and flag values by asking the binaries (bash, fish).
func TestCompletionScripts(t *testing.T) {
	dir := t.TempDir()
	env := append(os.Environ(), "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"), "TOKEND_SOCKET="+filepath.Join(dir, "none.sock"))
	script := func(t *testing.T, bin, shell string) string {
		t.Helper()
		out, err := exec.Command(filepath.Join(binDir, bin), "completion", shell).Output()
		if err != nil || len(out) == 0 {
			t.Fatalf("%s completion %s: %v", bin, shell, err)
		}
		p := filepath.Join(dir, bin+"."+shell)
		if shell == "zsh" {
			p = filepath.Join(dir, "_"+bin)
		}
		if err := os.WriteFile(p, out, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	run := func(t *testing.T, shell string, args ...string) string {
		t.Helper()
		cmd := exec.Command(shell, args...)
		cmd.Env, cmd.Dir = env, dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %q: %v\n%s", shell, args, err, out)
		}
		return string(out)
	}
	// Each binary, a partial word, what it must complete to; a flag value.
	cases := []struct{ bin, word, want, flagLine, flagWant string }{
		{"token", "sta", "status", "token get -o ", "databricks"},
		{"tokend", "ser", "serve", "tokend serve --store ", "keyring"},
	}

	t.Run("bash", func(t *testing.T) {
		bash := needTool(t, "bash", "bash")
		const lib = "/usr/share/bash-completion/bash_completion"
		if _, err := os.Stat(lib); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal("CI must install bash-completion")
			}
			t.Skip("bash-completion not installed")
		}
		for _, c := range cases {
			f := script(t, c.bin, "bash")
			out := run(t, bash, "-c", `source `+lib+` && source "$1" && complete -p "$2"`, "-", f, c.bin)
			if !strings.Contains(out, "-F __start_"+c.bin+" "+c.bin) {
				t.Errorf("bash did not register %s's completion: %s", c.bin, out)
			}
			for _, q := range [][2]string{{c.bin + " " + c.word, c.want}, {c.flagLine, c.flagWant}} {
				line := q[0]
				out := run(t, bash, "-c", `source `+lib+` && source "$1" 2>/dev/null
read -ra COMP_WORDS <<< "$2"; [[ "$2" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]}-1)); COMP_LINE="$2"; COMP_POINT=${#2}
__start_$3 2>/dev/null; printf '%s\n' "${COMPREPLY[@]}"`, "-", f, line, c.bin)
				if !strings.Contains(out, q[1]) {
					t.Errorf("bash completes %q to %q, want %s", line, out, q[1])
				}
			}
		}
	})
	t.Run("zsh", func(t *testing.T) {
		zsh := needTool(t, "zsh", "zsh")
		for _, c := range cases {
			script(t, c.bin, "zsh")
			out := run(t, zsh, "-f", "-c", `fpath=($PWD $fpath); autoload -Uz compinit && compinit -u -D && autoload -Uz _`+c.bin+` && print -r -- "$_comps[`+c.bin+`]" && whence -w _`+c.bin)
			if !strings.Contains(out, "_"+c.bin+"\n") || !strings.Contains(out, "_"+c.bin+": function") {
				t.Errorf("zsh did not load %s's completion: %s", c.bin, out)
			}
		}
	})
	t.Run("fish", func(t *testing.T) {
		fish := needTool(t, "fish", "fish")
		for _, c := range cases {
			f := script(t, c.bin, "fish")
			out := run(t, fish, "--no-config", "-c", `source $argv[1]; complete -C"$argv[2]"; complete -C"$argv[3]"`, f, c.bin+" "+c.word, c.flagLine)
			if !strings.Contains(out, c.want) || !strings.Contains(out, c.flagWant) {
				t.Errorf("fish completes %q and %q to:\n%s", c.bin+" "+c.word, c.flagLine, out)
			}
		}
	})
	t.Run("powershell", func(t *testing.T) {
		for _, c := range cases {
			if f := script(t, c.bin, "powershell"); !strings.Contains(readFile(t, f), "Register-ArgumentCompleter -CommandName '"+c.bin+"'") {
				t.Errorf("%s's PowerShell script registers no completer", c.bin)
			}
		}
	})
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
