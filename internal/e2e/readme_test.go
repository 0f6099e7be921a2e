//go:build unix

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/entraemu"
)

// README's examples are tests. Every `console` block of README.md says, in
// an HTML comment before it, how it runs:
//
//	<!-- doctest: emulator -->  against `tokend serve --emulator`, started
//	                            first in a fresh HOME, as the README says
//	<!-- doctest: azure -->     from a fresh HOME with no daemon, Azure played
//	                            by the emulator (see azureRewrites)
//
// Each `$ ` line is run by sh (so pipes and comments work, with the test's
// token and tokend first on PATH) and must exit 0. The lines after it, up
// to the next `$ `, are its output (stdout and stderr as a terminal shows
// them), line by line: `…` stands for any text, a run of digits for any
// digits, a run of spaces for any spaces, and a line of `…` alone for any
// lines; a command shown with no output is not checked. The block of
// command synopses (after <!-- synopsis -->) must name commands and flags
// that exist.

// docBlock is one console block of README.md.
type docBlock struct {
	mode  string
	line  int // of the opening fence
	steps []docStep
}

// docStep is a command and the output README shows for it.
type docStep struct {
	cmd  string
	line int
	want []string
}

var doctestMark = regexp.MustCompile(`^<!-- doctest: (\w+) -->$`)

// readmeBlocks parses README's console blocks; one without a doctest mark
// is an error.
func readmeBlocks(text string) ([]docBlock, error) {
	lines := strings.Split(text, "\n")
	var blocks []docBlock
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```console" {
			continue
		}
		b := docBlock{line: i + 1}
		if i > 0 {
			if m := doctestMark.FindStringSubmatch(lines[i-1]); m != nil {
				b.mode = m[1]
			}
		}
		if b.mode != "emulator" && b.mode != "azure" {
			return nil, fmt.Errorf("README.md:%d: a console block needs <!-- doctest: emulator --> or <!-- doctest: azure --> on the line before", i+1)
		}
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			switch l := lines[i]; {
			case strings.HasPrefix(l, "$ "):
				b.steps = append(b.steps, docStep{cmd: strings.TrimPrefix(l, "$ "), line: i + 1})
			case len(b.steps) == 0:
				return nil, fmt.Errorf("README.md:%d: output before the first command", i+1)
			default:
				s := &b.steps[len(b.steps)-1]
				s.want = append(s.want, l)
			}
		}
		blocks = append(blocks, b)
	}
	return blocks, nil
}

// lineRegexp turns one line of README output into a regular expression.
// A duration stands for any duration: a token's lifetime is random (60 to
// 90 minutes), so "1h17m39s" may be "59m58s" in a run.
var lineTokens = regexp.MustCompile(`…|(?:[0-9]+h)?(?:[0-9]+m)?[0-9]+s\b|[0-9]+|[ \t]+|[^…0-9 \t]+`)
var durationToken = regexp.MustCompile(`^(?:[0-9]+h)?(?:[0-9]+m)?[0-9]+s$`)

func lineRegexp(want string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for _, tok := range lineTokens.FindAllString(want, -1) {
		switch {
		case tok == "…":
			b.WriteString(".*?")
		case durationToken.MatchString(tok):
			b.WriteString(`(?:[0-9]+h)?(?:[0-9]+m)?[0-9]+s`)
		case tok[0] >= '0' && tok[0] <= '9':
			b.WriteString(`[0-9]+`)
		case tok[0] == ' ' || tok[0] == '\t':
			b.WriteString(`[ \t]+`)
		default:
			b.WriteString(regexp.QuoteMeta(tok))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// matchOutput checks output against the lines README shows.
func matchOutput(want []string, output string) error {
	if len(want) == 0 {
		return nil
	}
	got := strings.Split(strings.TrimSuffix(output, "\n"), "\n")
	if output == "" {
		got = nil
	}
	var match func(w, g int) bool
	match = func(w, g int) bool {
		switch {
		case w == len(want):
			return g == len(got)
		case want[w] == "…":
			for k := g; k <= len(got); k++ {
				if match(w+1, k) {
					return true
				}
			}
			return false
		case g == len(got):
			return false
		}
		return lineRegexp(want[w]).MatchString(got[g]) && match(w+1, g+1)
	}
	if match(0, 0) {
		return nil
	}
	return fmt.Errorf("output does not match README\nREADME shows:\n\t%s\ngot:\n\t%s", strings.Join(want, "\n\t"), strings.Join(got, "\n\t"))
}

// docEnv is a fresh HOME with nothing of tokend in it, and the test's
// commands first on PATH.
type docEnv struct {
	home, work, runtime string
	env                 []string
}

func newDocEnv(t *testing.T) *docEnv {
	t.Helper()
	// Unix socket paths are short (108 bytes): the runtime dir is not under
	// the test's temporary directory.
	runtime, err := os.MkdirTemp("", "tkd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopStrayDaemon(runtime)
		os.RemoveAll(runtime)
	})
	d := &docEnv{home: filepath.Join(t.TempDir(), "home"), work: t.TempDir(), runtime: runtime}
	if err := os.Mkdir(d.home, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "TOKEND_") || strings.HasPrefix(k, "XDG_") || k == "HOME" || k == "PATH" {
			continue
		}
		d.env = append(d.env, kv)
	}
	d.env = append(d.env, "HOME="+d.home, "XDG_RUNTIME_DIR="+runtime, "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		// Not the fixed default port, which may be the user's own tokend's
		// (README's outputs show it as a number, any port matches).
		"TOKEND_HTTP=127.0.0.1:0")
	return d
}

// run runs one command line with sh and returns what it printed.
func (d *docEnv) run(cmdline string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", cmdline)
	cmd.Dir, cmd.Env = d.work, d.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// azureRewrites are what README's Azure example needs to run offline: the
// workspace is the emulator's fake one, and `token setup` signs in at the
// emulator (its --authority and --ca-file, what a user of the emulator
// types); in the output, Microsoft's device login page is the emulator's,
// /home/you the test's HOME and you@example.com the emulator's user.
type azureRewrites struct {
	cmd, out *strings.Replacer
	ca, url  string
}

const readmeWorkspace = "https://adb-1234567890123456.7.azuredatabricks.net"

func newAzureRewrites(em *entraemu.Emulator, ca, home string) *azureRewrites {
	return &azureRewrites{
		cmd: strings.NewReplacer(readmeWorkspace, em.URL()),
		out: strings.NewReplacer("https://microsoft.com/devicelogin", em.URL()+"/devicelogin", "/home/you", home, "you@example.com", entraemu.Username),
		ca:  ca, url: em.URL(),
	}
}

func (r *azureRewrites) command(c string) string {
	c = r.cmd.Replace(c)
	if strings.HasPrefix(c, "token setup ") {
		c += " --authority " + r.url + " --ca-file " + r.ca
	}
	return c
}

// runDocBlock runs a README block; an error says where it stopped holding.
func runDocBlock(t *testing.T, b docBlock) error {
	d := newDocEnv(t)
	var rw *azureRewrites
	switch b.mode {
	case "emulator":
		stop, err := d.serveEmulator()
		if err != nil {
			return err
		}
		defer stop()
	case "azure":
		if ok, err := secretService("secretservice"); err != nil {
			t.Fatal(err)
		} else if !ok {
			t.Skip("needs a Secret Service for the sign-in `token setup` keeps: run through scripts/with-keyring.sh")
		}
		em, err := entraemu.New(entraemu.Config{Dir: filepath.Join(d.work, "emulator")})
		if err != nil {
			return err
		}
		if err := em.Start("127.0.0.1:0"); err != nil {
			return err
		}
		defer em.Close()
		rw = newAzureRewrites(em, em.Fixture().CAFile, d.home)
		stop := approveDeviceCodes(em)
		defer stop()
	}
	for _, s := range b.steps {
		cmd, want := s.cmd, s.want
		if rw != nil {
			cmd = rw.command(cmd)
			want = slices.Clone(want)
			for i := range want {
				want[i] = rw.out.Replace(want[i])
			}
		}
		if pkgs, ok := strings.CutPrefix(cmd, "go install "); ok {
			if err := checkGoInstall(pkgs); err != nil {
				return fmt.Errorf("README.md:%d: %s: %w", s.line, s.cmd, err)
			}
			continue
		}
		out, err := d.run(cmd)
		if err != nil {
			return fmt.Errorf("README.md:%d: %s: %v\n%s", s.line, s.cmd, err, out)
		}
		if err := matchOutput(want, out); err != nil {
			return fmt.Errorf("README.md:%d: %s: %w", s.line, s.cmd, err)
		}
	}
	return nil
}

// serveEmulator starts `tokend serve --emulator` as README's reader does,
// and waits until it answers.
func (d *docEnv) serveEmulator() (stop func(), err error) {
	cmd := exec.Command(filepath.Join(binDir, "tokend"), "serve", "--emulator")
	cmd.Env, cmd.Dir = d.env, d.work
	var logs syncBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop = func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if out, err := d.run("token status -o json"); err == nil && strings.Contains(out, `"name": "demo-user"`) && strings.Contains(out, `"account": "alice@tokend.test"`) {
			return stop, nil
		}
	}
	stop()
	return nil, fmt.Errorf("tokend serve --emulator did not answer in 30s:\n%s", logs.String())
}

// checkGoInstall: README's `go install` names the two commands of this
// module (it cannot run offline: go list checks the names instead).
func checkGoInstall(args string) error {
	var pkgs []string
	for _, a := range strings.Fields(args) {
		p, _, _ := strings.Cut(a, "@")
		pkgs = append(pkgs, p)
	}
	out, err := exec.Command("go", append([]string{"list"}, pkgs...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go list: %v: %s", err, out)
	}
	got := strings.Fields(string(out))
	for _, want := range []string{"github.com/tokend/tokend/cmd/token", "github.com/tokend/tokend/cmd/tokend"} {
		if !slices.Contains(got, want) {
			return fmt.Errorf("it does not install %s (it names %q)", want, got)
		}
	}
	return nil
}

// approveDeviceCodes plays the person at the device login page: every
// device code that comes up is approved for the emulator's user.
func approveDeviceCodes(em *entraemu.Emulator) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	hc := em.HTTPClient()
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			resp, err := hc.Get(em.URL() + "/_emulator/devicecodes")
			if err != nil {
				continue
			}
			var pending []struct {
				UserCode string `json:"user_code"`
			}
			json.NewDecoder(resp.Body).Decode(&pending)
			resp.Body.Close()
			for _, p := range pending {
				body, _ := json.Marshal(map[string]string{"user_code": p.UserCode})
				if r, err := hc.Post(em.URL()+"/_emulator/devicecode/approve", "application/json", bytes.NewReader(body)); err == nil {
					r.Body.Close()
				}
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func readme(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestReadme runs README's console examples and checks its synopsis of the
// commands.
func TestReadme(t *testing.T) {
	needTool(t, "curl", "curl")
	needTool(t, "jq", "jq")
	text := readme(t)
	blocks, err := readmeBlocks(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) < 3 {
		t.Fatalf("README has %d console blocks", len(blocks))
	}
	for _, b := range blocks {
		t.Run(fmt.Sprintf("README.md:%d/%s", b.line, b.mode), func(t *testing.T) {
			if err := runDocBlock(t, b); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("synopsis", func(t *testing.T) {
		if err := checkSynopsis(synopsis(t, text)); err != nil {
			t.Fatal(err)
		}
	})
}

// synopsis is the block of command synopses in README.
func synopsis(t *testing.T, text string) []string {
	_, after, ok := strings.Cut(text, "<!-- synopsis -->\n```\n")
	if !ok {
		t.Fatal("README has no <!-- synopsis --> block")
	}
	block, _, _ := strings.Cut(after, "\n```")
	return strings.Split(block, "\n")
}

var synopsisFlag = regexp.MustCompile(`(?:^|[\s\[|])(--?[a-z][a-z0-9-]*)`)

// checkSynopsis: every command of the synopsis exists (its -h names it),
// and so does every flag the synopsis gives it.
func checkSynopsis(lines []string) error {
	type entry struct {
		bin  string
		path []string
		text string
	}
	var entries []entry
	for _, l := range lines {
		switch {
		case strings.TrimSpace(l) == "":
		case strings.HasPrefix(l, " ") && len(entries) > 0:
			entries[len(entries)-1].text += " " + l
		default:
			f := strings.Fields(l)
			e := entry{bin: f[0], text: l}
			for _, w := range f[1:] {
				if strings.HasPrefix(w, "[") || strings.HasPrefix(w, "-") || strings.Contains(w, "|") || strings.ToUpper(w) == w {
					break
				}
				e.path = append(e.path, w)
			}
			entries = append(entries, e)
		}
	}
	var errs []error
	for _, e := range entries {
		if e.bin != "token" && e.bin != "tokend" {
			errs = append(errs, fmt.Errorf("%q: not a command of token or tokend", e.text))
			continue
		}
		out, err := exec.Command(filepath.Join(binDir, e.bin), append(e.path, "--help")...).Output()
		usage := "Usage:\n  " + strings.Join(append([]string{e.bin}, e.path...), " ")
		if err != nil || !strings.Contains(string(out), usage) {
			errs = append(errs, fmt.Errorf("%q: no such command (%v)", e.text, err))
			continue
		}
		for _, m := range synopsisFlag.FindAllStringSubmatch(e.text, -1) {
			flag := m[1]
			if !strings.HasPrefix(flag, "--") {
				flag = flag + ", " // a shorthand: "-o, --output"
			}
			if !strings.Contains(string(out), flag) {
				errs = append(errs, fmt.Errorf("%q: %s has no flag %s", e.text, strings.Join(append([]string{e.bin}, e.path...), " "), m[1]))
			}
		}
	}
	return errors.Join(errs...)
}

// TestReadmeCatchesFalseExamples: the README test fails when an example is
// changed to something false: an output line, a command, a flag of the
// synopsis.
func TestReadmeCatchesFalseExamples(t *testing.T) {
	text := readme(t)
	blocks, err := readmeBlocks(text)
	if err != nil {
		t.Fatal(err)
	}
	var demo docBlock
	for _, b := range blocks {
		if b.mode == "emulator" && len(b.steps) >= 4 {
			demo = b
		}
	}
	if len(demo.steps) == 0 {
		t.Fatal("no emulator block with the token status example")
	}
	mutate := func(b docBlock, f func(*docBlock)) docBlock {
		c := b
		c.steps = slices.Clone(b.steps)
		for i := range c.steps {
			c.steps[i].want = slices.Clone(c.steps[i].want)
		}
		f(&c)
		return c
	}
	for name, b := range map[string]docBlock{
		"an output line": mutate(demo, func(b *docBlock) {
			for i, s := range b.steps {
				for j, w := range s.want {
					b.steps[i].want[j] = strings.Replace(w, "store memory", "store keyring", 1)
				}
			}
		}),
		"a command": mutate(demo, func(b *docBlock) {
			b.steps[0].cmd = strings.Replace(b.steps[0].cmd, "token get demo", "token get demo -o yaml", 1)
		}),
		"a profile's flow": mutate(demo, func(b *docBlock) {
			last := &b.steps[len(b.steps)-1]
			for j, w := range last.want {
				last.want[j] = strings.Replace(w, "demo-user  password ", "demo-user  browser  ", 1)
			}
		}),
	} {
		t.Run(name, func(t *testing.T) {
			if err := runDocBlock(t, b); err == nil {
				t.Fatal("the README test passed a false example")
			} else {
				t.Logf("as it should, the README test fails: %v", err)
			}
		})
	}
	t.Run("a flag of the synopsis", func(t *testing.T) {
		lines := slices.Clone(synopsis(t, text))
		for i, l := range lines {
			lines[i] = strings.Replace(l, "--device-code", "--devicecode", 1)
		}
		if err := checkSynopsis(lines); err == nil || !strings.Contains(err.Error(), "no flag --devicecode") {
			t.Fatalf("the synopsis check passed a false flag: %v", err)
		}
	})
	t.Run("a block without a mark", func(t *testing.T) {
		if _, err := readmeBlocks(strings.Replace(text, "<!-- doctest: emulator -->\n", "", 1)); err == nil {
			t.Fatal("a console block without a doctest mark was accepted")
		}
	})
}

// TestLineRegexp: README's example output stands for any run's: numbers,
// durations (tokens live 60 to 90 minutes) and `…` vary, words do not.
func TestLineRegexp(t *testing.T) {
	const want = "demo       client-secret  ready  c0ffee00-1234  1h17m39s    37m33s        -"
	for _, tc := range []struct {
		got   string
		match bool
	}{
		{"demo       client-secret  ready  c0ffee00-1234  1h17m39s    37m33s        -", true},
		{"demo client-secret ready c0ffee00-9999 59m58s 29m1s -", true},
		{"demo client-secret ready c0ffee00-1234 1h0m0s 45s -", true},
		{"demo client-secret login_required c0ffee00-1234 1h17m39s 37m33s -", false},
		{"demo client-secret ready c0ffee00-1234 1h17m39 37m33s -", false},
		{"demo client-secret ready c0ffee00-1234 soon 37m33s -", false},
	} {
		if got := lineRegexp(want).MatchString(tc.got); got != tc.match {
			t.Errorf("%q matches %q: %v, want %v", want, tc.got, got, tc.match)
		}
	}
	if !lineRegexp("http 127.0.0.1:18653, store memory").MatchString("http 127.0.0.1:40123, store memory") {
		t.Error("a port is a number")
	}
}
