package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// cliRun is what `bench cli` measures.
type cliRun struct {
	Commands []cliResult `json:"commands"`
	// OtherCPU is the share of the machine's CPU time that went to
	// processes other than the commands, the daemon and this one.
	OtherCPU float64 `json:"other_cpu"`
}

// cliResult is the wall time of one command line, run many times.
type cliResult struct {
	Name     string    `json:"name"`
	Command  string    `json:"command"`
	Runs     int       `json:"runs"`
	MedianMS float64   `json:"median_ms"`
	P90MS    float64   `json:"p90_ms"`
	MeanMS   float64   `json:"mean_ms"`
	MinMS    float64   `json:"min_ms"`
	MaxMS    float64   `json:"max_ms"`
	TimesMS  []float64 `json:"times_ms"`
}

// cliCommand is a -cmd flag: NAME[:RUNS]=ARGV (split on spaces).
type cliCommand struct {
	name string
	argv []string
	runs int
}

type cliFlags []cliCommand

func (c *cliFlags) String() string { return fmt.Sprint(len(*c), " commands") }

func (c *cliFlags) Set(v string) error {
	name, line, ok := strings.Cut(v, "=")
	argv := strings.Fields(line)
	if !ok || name == "" || len(argv) == 0 {
		return errors.New("want NAME[:RUNS]=COMMAND ARGS")
	}
	cmd := cliCommand{name: name, argv: argv}
	if n, r, ok := strings.Cut(name, ":"); ok {
		runs, err := strconv.Atoi(r)
		if err != nil || runs < 1 {
			return fmt.Errorf("%q: bad run count", name)
		}
		cmd.name, cmd.runs = n, runs
	}
	*c = append(*c, cmd)
	return nil
}

// cmdCLI times whole processes, as a user starting them from a shell
// would feel them: fork, exec, run, exit, each with stdout and stderr on
// /dev/null. The commands take turns (one run of each, round after round),
// so that a burst of load on the machine hits all of them alike rather
// than whichever ran during it. A command with fewer runs is spread evenly
// over the rounds. Every command must exit 0 and print something first.
func cmdCLI(args []string) error {
	fs := flag.NewFlagSet("cli", flag.ContinueOnError)
	var cmds cliFlags
	fs.Var(&cmds, "cmd", "NAME[:RUNS]=COMMAND ARGS (repeatable)")
	runs := fs.Int("runs", 300, "runs of each command without its own count")
	warm := fs.Int("warmup", 20, "unmeasured runs of each command first")
	out := fs.String("out", "", "write the result as JSON here")
	pid := fs.Int("pid", 0, "the daemon's process id (its CPU time is not someone else's)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(cmds) == 0 {
		return errors.New("cli: no -cmd")
	}
	rounds := 0
	for i := range cmds {
		if cmds[i].runs == 0 {
			cmds[i].runs = *runs
		}
		rounds = max(rounds, cmds[i].runs)
		path, err := exec.LookPath(cmds[i].argv[0])
		if err != nil {
			return err
		}
		cmds[i].argv[0] = path
		// Once in the open: it must work and say something.
		outp, err := exec.Command(path, cmds[i].argv[1:]...).Output()
		if err != nil || len(outp) == 0 {
			return fmt.Errorf("%s: %v (printed %d bytes)", cmds[i].name, err, len(outp))
		}
	}
	times := make([][]time.Duration, len(cmds))
	meter := newCPUMeter(*pid)
	children := childrenJiffies()
	for r := -*warm; r < rounds; r++ {
		for i, c := range cmds {
			if !scheduled(r, c.runs, rounds, *warm) {
				continue
			}
			d, err := timeProcess(c.argv)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			if r >= 0 {
				times[i] = append(times[i], d)
			}
		}
	}
	var res cliRun
	// The commands' own CPU time is ours too.
	meter.ours -= childrenJiffies() - children
	res.OtherCPU = meter.otherShare()
	for i, c := range cmds {
		t := times[i]
		slices.Sort(t)
		var sum time.Duration
		ms := make([]float64, len(t))
		for j, d := range t {
			sum += d
			ms[j] = msOf(d)
		}
		r := cliResult{
			Name: c.name, Command: strings.Join(c.argv, " "), Runs: len(t),
			MedianMS: msOf(median(t)), P90MS: msOf(quantile(t, 0.9)),
			MeanMS: msOf(sum / time.Duration(len(t))), MinMS: ms[0], MaxMS: ms[len(ms)-1], TimesMS: ms,
		}
		fmt.Fprintf(os.Stderr, "%-12s %4d runs: median %8.3f ms  p90 %8.3f ms  min %8.3f ms\n", r.Name, r.Runs, r.MedianMS, r.P90MS, r.MinMS)
		res.Commands = append(res.Commands, r)
	}
	fmt.Fprintf(os.Stderr, "other processes took %.0f%% of the machine's CPU meanwhile\n", 100*res.OtherCPU)
	return writeJSONFile(*out, res)
}

// scheduled reports whether a command with runs runs goes in round r of
// rounds (rounds from -warm on are warm-up): its runs are spread evenly,
// in the rounds where r*runs/rounds steps to a new integer; it warms up
// at most runs times.
func scheduled(r, runs, rounds, warm int) bool {
	if r < 0 {
		return r >= -min(warm, runs)
	}
	return (r+1)*runs/rounds != r*runs/rounds
}

// median of sorted durations: the mean of the middle two for an even count.
func median(sorted []time.Duration) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func msOf(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
