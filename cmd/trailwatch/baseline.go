package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/detectors"
)

const baselineUsage = `Usage:
  trailwatch baseline show   [flags] PRINCIPAL
  trailwatch baseline forget [flags] --reason TEXT PRINCIPAL [DIMENSION:VALUE...] [--since TIME]
  trailwatch baseline reset  [flags] --reason TEXT PRINCIPAL

Inspects or changes one principal's baseline in the DynamoDB table the
deployed stack uses (PRINCIPAL is the baseline key of a finding's
"principal" field, e.g. 111122223333:user/svc-backup).

  show    what the baseline knows: counts, history, and every remembered
          value per dimension (--format json for scripts).
  forget  unlearn after an incident: the values named (api:iam:CreateUser,
          network:203.0.113.0/24, useragent:curl, region:…, accesskey:…),
          and/or everything first seen since --since (the incident's
          start: 2026-11-03 or 2026-11-03T08:00:00Z), so the attacker's
          network, tools and APIs are new again.
  reset   start the principal's baseline afresh (its open findings are
          kept, so nothing pages twice).

Every change needs --reason, is written under the table's optimistic
concurrency (a concurrent write by the detect function is reloaded and the
change applied again), and is logged as JSON on standard error. --dry-run
shows the change without writing it.

Flags:
`

func runBaseline(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") && args[0] != "--help" && args[0] != "-h" {
		fmt.Fprint(stderr, baselineUsage)
		return usageErr("baseline needs show, forget or reset")
	}
	action := args[0]
	if action == "--help" || action == "-h" {
		fmt.Fprint(stdout, baselineUsage)
		return nil
	}
	if action != "show" && action != "forget" && action != "reset" {
		return usageErr("baseline: unknown action %q (want show, forget or reset)", action)
	}
	var o replayOptions
	fs := flag.NewFlagSet("baseline "+action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, baselineUsage); fs.PrintDefaults() }
	fs.StringVar(&o.table, "table", "trailwatch-baselines", "DynamoDB table")
	fs.StringVar(&o.endpoint, "endpoint", "", "DynamoDB endpoint URL (local servers)")
	fs.StringVar(&o.region, "region", "", "AWS region (default: from the environment, else us-east-1)")
	format := fs.String("format", "text", "show: text or json")
	reason := fs.String("reason", "", "why the baseline is changed (required for forget and reset; logged)")
	since := fs.String("since", "", "forget: everything first seen on or after this time (YYYY-MM-DD or RFC 3339)")
	dryRun := fs.Bool("dry-run", false, "show the change without writing it")
	rest, err := parseInterleaved(fs, args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageErr("%v", err)
	}
	if len(rest) == 0 {
		return usageErr("baseline %s needs a PRINCIPAL", action)
	}
	key, valueArgs := rest[0], rest[1:]
	var vals []detectors.DimValue
	for _, a := range valueArgs {
		dv, err := detectors.ParseDimValue(a)
		if err != nil {
			return usageErr("%v", err)
		}
		vals = append(vals, dv)
	}
	var sinceT time.Time
	if *since != "" {
		if sinceT, err = parseSince(*since); err != nil {
			return usageErr("--since: %v", err)
		}
	}
	switch action {
	case "show":
		if len(valueArgs) > 0 || *since != "" || *reason != "" {
			return usageErr("baseline show takes only a PRINCIPAL")
		}
		if *format != "text" && *format != "json" {
			return usageErr("--format must be text or json")
		}
	case "forget":
		if len(vals) == 0 && sinceT.IsZero() {
			return usageErr("baseline forget needs DIMENSION:VALUE arguments or --since")
		}
		fallthrough
	case "reset":
		if action == "reset" && (len(vals) > 0 || !sinceT.IsZero()) {
			return usageErr("baseline reset takes only a PRINCIPAL")
		}
		if strings.TrimSpace(*reason) == "" {
			return usageErr("baseline %s needs --reason", action)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	store, err := openDynamoDB(ctx, &o, log)
	if err != nil {
		return err
	}
	if action == "show" {
		states, err := store.Load(ctx, []string{key})
		if err != nil {
			return err
		}
		st := states[key]
		if st == nil {
			return fmt.Errorf("%s: %w", key, baselines.ErrNoBaseline)
		}
		return writeBaseline(stdout, st, *format)
	}
	changes, err := baselines.Amend(ctx, store, key, *dryRun, func(st *detectors.State) []string {
		if action == "reset" {
			old := st.Baseline
			st.Baseline = detectors.NewBaseline(key)
			st.Baseline.ColdDirty = true
			return []string{fmt.Sprintf("reset: %d events over %d days and %d remembered values forgotten; %d open finding(s) kept",
				old.Events, old.HistoryDays(), countValues(old), len(st.Cases))}
		}
		var out []string
		if len(vals) > 0 {
			out = append(out, st.Baseline.ForgetValues(vals)...)
		}
		if !sinceT.IsZero() {
			out = append(out, st.Baseline.ForgetSince(sinceT)...)
		}
		return out
	})
	if err != nil {
		return err
	}
	verb := "changed"
	if *dryRun {
		verb = "would change (dry run, nothing written)"
	}
	fmt.Fprintf(stdout, "%s %s:\n", key, verb)
	if len(changes) == 0 {
		fmt.Fprintln(stdout, "  nothing: no value matched")
	}
	for _, c := range changes {
		fmt.Fprintf(stdout, "  %s\n", c)
	}
	log.Info("baseline "+action, "principal", key, "table", o.table, "reason", *reason, "dry_run", *dryRun,
		"since", *since, "changes", changes)
	return nil
}

func parseSince(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want YYYY-MM-DD or RFC 3339, got %q", s)
	}
	return t, nil
}

func countValues(b *detectors.Baseline) int {
	n := 0
	for d := range b.Dims {
		n += len(b.Dims[d].Values)
	}
	return n
}

func writeBaseline(w io.Writer, st *detectors.State, format string) error {
	s := st.Baseline.Summary()
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", " ")
		return enc.Encode(s)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (model %d)\n", s.Principal, s.Model)
	if !s.FirstSeen.IsZero() {
		fmt.Fprintf(&b, "  history: %d day(s), %s .. %s, active on %d\n", s.HistoryDays,
			s.FirstSeen.Format(time.RFC3339), s.LastSeen.Format(time.RFC3339), s.ActiveDays)
	}
	fmt.Fprintf(&b, "  events:  %d (%d mutating, %d denied); %d session credential(s) remembered; %d open finding(s)\n",
		s.Events, s.Mutating, s.Denied, s.Sessions, len(st.Cases))
	for d := range detectors.NumDims {
		name := detectors.Dim(d).String()
		info := s.Dimensions[name]
		fmt.Fprintf(&b, "  %s: %d value(s), chance of a new one %.1f%%\n", name, len(info.Values), 100*info.NewValueProbability)
		for _, v := range info.Values {
			fmt.Fprintf(&b, "    %-40s %s .. %s, %d day(s)\n", v.Value, v.First, v.Last, v.Days)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
