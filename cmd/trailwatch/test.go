package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/config"
	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/detectors/rulestest"
)

func runTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: trailwatch test [DIR|FILE...]

Runs the example records of every high-risk rule through the detection
engine (the code path of replay): each positive example must make its rule
fire, each negative one must not. The built-in catalog always runs; each
FILE, and each *.yaml or *.yml under DIR, is a thresholds.yaml whose rules
(added or overriding a built-in one) run too. Example files are read
relative to the file that names them.

Prints one line per mismatch, then a summary. Exit status 0 when every
example gives what it expects, 1 on a mismatch or an unusable file, 2 on
wrong usage.
`)
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return usageErr("%v", err)
	}
	files, err := ruleFiles(fs.Args())
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	type suite struct {
		name string
		cfg  *detectors.Config
		only func(*detectors.Rule) bool
	}
	suites := []suite{{name: "built-in catalog", cfg: config.Default()}}
	bad, unusable := 0, 0
	for _, f := range files {
		cfg, _, err := config.Load(f, time.Now())
		if err != nil {
			var ce *config.Error
			if errors.As(err, &ce) {
				for _, p := range ce.Problems {
					if !p.Warning {
						fmt.Fprintf(stdout, "%s: %s\n", f, p)
						bad++
					}
				}
				unusable++
				continue
			}
			return &exitError{code: 1, err: err}
		}
		src := f
		suites = append(suites, suite{name: f, cfg: cfg, only: func(r *detectors.Rule) bool { return r.Source == src }})
	}
	rules, examples, mismatches := 0, 0, 0
	for _, s := range suites {
		res, err := rulestest.Run(ctx, s.cfg, s.only)
		if err != nil {
			return &exitError{code: 1, err: fmt.Errorf("%s: %w", s.name, err)}
		}
		for _, m := range res.Mismatches {
			fmt.Fprintln(stdout, m)
		}
		rules += res.Rules
		examples += res.Examples
		mismatches += len(res.Mismatches)
	}
	fmt.Fprintf(stderr, "trailwatch test: %d rules, %d examples, %d mismatches, %d unusable files\n", rules, examples, mismatches, unusable)
	if mismatches > 0 || bad > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d mismatches, %d config problems", mismatches, bad)}
	}
	return nil
}

// ruleFiles expands the arguments: files as given, directories to their
// *.yaml and *.yml files (recursively), in name order.
func ruleFiles(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		var found []string
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
				found = append(found, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}
