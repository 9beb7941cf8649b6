package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/trailwatch/trailwatch/config"
)

func runValidate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: trailwatch validate [--against DEPLOYED.yaml] FILE

Checks a thresholds.yaml against the schema and for meaning: modes,
thresholds and severity bands, suppressions (each needs a reason and an
expiry date), high-risk rules (their conditions from the vocabulary, APIs,
scores and message placeholders; 'trailwatch test' runs their examples), named
networks (their CIDRs, and the files they name, read beside FILE). Problems are printed with their line numbers; expired
suppressions and malformed entries skipped in network files are reported as warnings. With --against, also warns about
what deploying FILE over DEPLOYED.yaml would change beyond its numbers:
principal keying (baselines that start from nothing), routing minimums,
forgetting and learning, detector modes, new suppressions, disabled rules,
named networks added, removed or changed.
Exit status 0 when the file is usable, 1 when it is not, 2 on wrong usage.
`)
	}
	against := fs.String("against", "", "the deployed thresholds.yaml to compare FILE with")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return usageErr("%v", err)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return usageErr("validate takes exactly one FILE")
	}
	path := fs.Arg(0)
	cfg, warnings, err := config.Load(path, time.Now())
	for _, w := range warnings {
		fmt.Fprintf(stdout, "%s: warning: %s\n", path, w)
	}
	if err != nil {
		if ce, ok := err.(*config.Error); ok {
			for _, p := range ce.Problems {
				fmt.Fprintf(stdout, "%s: %s\n", path, p)
			}
			return &exitError{code: 1, err: fmt.Errorf("%s: %d problem(s)", path, len(ce.Problems))}
		}
		return &exitError{code: 1, err: err}
	}
	if *against != "" {
		old, _, err := config.Load(*against, time.Now())
		if err != nil {
			return &exitError{code: 1, err: fmt.Errorf("--against: %w", err)}
		}
		for _, c := range config.Compare(old, cfg) {
			fmt.Fprintf(stdout, "%s: warning: against %s: %s\n", path, *against, c)
		}
	}
	fmt.Fprintf(stdout, "%s: ok\n", path)
	return nil
}
