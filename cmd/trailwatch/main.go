// Command trailwatch replays archived CloudTrail through the production
// detection code, validates configuration, and reports its version.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `trailwatch: per-principal anomaly detection for AWS CloudTrail

Usage:
  trailwatch replay [flags] PATH...   replay CloudTrail through the detectors
  trailwatch validate FILE            check a thresholds.yaml
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
	case "validate":
		return runValidate(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "trailwatch %s\n", buildVersion())
		return nil
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

func buildVersion() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		v += " " + bi.GoVersion
	}
	return v
}
