// Command trailwatch replays archived CloudTrail through the production
// detection code, validates configuration, and reports its version.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

const usage = `trailwatch: per-principal anomaly detection for AWS CloudTrail

Usage:
  trailwatch replay [flags] PATH...   replay CloudTrail through the detectors
  trailwatch backfill --since DAY --until DAY [flags] PATH...
                                      warm the deployed baselines from the archive
  trailwatch validate [--against OLD] FILE
                                      check a thresholds.yaml
  trailwatch baseline show|forget|reset PRINCIPAL ...
                                      inspect or unlearn a stored baseline
  trailwatch tune [--labels FILE] [--out DIR] [flags] PATH...
                                      backtest thresholds: HTML and JSON report
  trailwatch test [DIR|FILE...]       run every high-risk rule's examples
  trailwatch version                  print the version
  trailwatch help [COMMAND]           explain a command and its flags

Run 'trailwatch help replay' for the replay flags.
`

// exitError carries an exit status with its one-line reason.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

func main() {
	tuneGC()
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		code := 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		if !errors.Is(err, errQuiet) {
			fmt.Fprintf(os.Stderr, "trailwatch: %v\n", err)
		}
		os.Exit(code)
	}
}

// tuneGC trades memory for speed within a bound: replay holds a bounded
// working set (the reorder window, one baseline per principal), so a lazier
// collector under a soft memory limit keeps peak RSS under about 260 MB
// while spending less time collecting. GOGC and GOMEMLIMIT override it.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(250 << 20)
	}
}

// errQuiet ends with a non-zero status when the reason was already printed.
var errQuiet = errors.New("")

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageErr("no command given")
	}
	switch args[0] {
	case "replay":
		return runReplay(args[1:], stdin, stdout, stderr)
	case "backfill":
		return runBackfill(args[1:], stdout, stderr)
	case "validate":
		return runValidate(args[1:], stdout, stderr)
	case "baseline":
		return runBaseline(args[1:], stdout, stderr)
	case "tune":
		return runTune(args[1:], stdin, stdout, stderr)
	case "test":
		return runTest(context.Background(), args[1:], stdout, stderr)
	case "version", "--version", "-version":
		return runVersion(stdout)
	case "help", "-h", "--help", "-help":
		if len(args) > 1 {
			return run([]string{args[1], "--help"}, stdin, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return usageErr("unknown command %q", args[0])
	}
}
