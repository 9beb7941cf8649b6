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
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/config"
	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/events"
	"github.com/trailwatch/trailwatch/render"
)

const replayUsage = `Usage: trailwatch replay [flags] PATH...

Replays archived CloudTrail through the exact production detection code and
prints the findings production would have routed, as JSON Lines on standard
output; a summary goes to standard error.

PATH is a CloudTrail S3 log file ({"Records":[...]}, .json or .json.gz), a
file of JSON Lines (CloudTrail records, EventBridge envelopes or SQS
messages), a directory (read recursively), - for standard input, or
s3://BUCKET[/PREFIX] for the CloudTrail archive in S3 (an organization or
account trail's layout; with --since/--until only the day directories of the
range are listed and read). The
format is detected per file. Records are processed in eventTime order across
all inputs, and only those the production EventBridge rule selects
(mutating calls, console sign-ins, calls denied for authorization).

Flags:
`

type replayOptions struct {
	configFile    string
	store         string
	table         string
	endpoint      string
	region        string
	createTable   bool
	batchSize     int
	minSeverity   string
	includeShadow bool
	format        string
	ipRanges      string
	progress      string
	quiet         bool
	window        int
	archive       archiveFlags
}

// capacityReporter is implemented by stores that count consumed capacity.
type capacityReporter interface {
	ConsumedCapacity() (read, write float64)
}

// openDynamoDB opens the DynamoDB store (store_dynamodb.go).
var openDynamoDB = openDynamoDBStore

func replayFlags(o *replayOptions, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.configFile, "config", "", "thresholds.yaml to use (default: the embedded defaults)")
	fs.StringVar(&o.store, "store", "memory", "baseline store: memory (embedded) or dynamodb")
	fs.StringVar(&o.table, "table", "trailwatch-baselines", "DynamoDB table (with --store dynamodb)")
	fs.StringVar(&o.endpoint, "endpoint", "", "DynamoDB endpoint URL, e.g. http://127.0.0.1:8000 (with --store dynamodb)")
	fs.StringVar(&o.region, "region", "", "AWS region for the DynamoDB client (default: from the environment, else us-east-1)")
	fs.BoolVar(&o.createTable, "create-table", false, "create the DynamoDB table if it does not exist")
	fs.IntVar(&o.batchSize, "batch-size", 100, "events per engine batch, as the Lambda receives them from SQS")
	fs.StringVar(&o.minSeverity, "min-severity", "", "print findings at or above this severity (default: the config's SNS routing minimum)")
	fs.BoolVar(&o.includeShadow, "include-shadow", false, "also print findings of detectors in shadow mode (marked \"mode\":\"shadow\")")
	fs.StringVar(&o.format, "format", "json", "output format: json (JSON Lines of findings), text (a readable report) or ocsf (JSON Lines of OCSF Detection Findings)")
	fs.StringVar(&o.ipRanges, "aws-ip-ranges", os.Getenv("TRAILWATCH_AWS_IP_RANGES"), "AWS ip-ranges.json, plain or gzip, to classify AWS-owned addresses (env TRAILWATCH_AWS_IP_RANGES)")
	fs.StringVar(&o.progress, "progress", "auto", "progress on standard error: auto (when it is a terminal), always or never")
	fs.BoolVar(&o.quiet, "quiet", false, "do not print the summary")
	fs.IntVar(&o.window, "reorder-window", 16384, "events held to put records in time order across files")
	archiveFlagSet(fs, &o.archive)
	fs.Usage = func() {
		fmt.Fprint(stderr, replayUsage)
		fs.PrintDefaults()
		fmt.Fprint(stderr, `
Exit status: 0 on success (malformed records are skipped and counted), 1 when
the run fails (unusable input path, config or store), 2 on wrong usage.
`)
	}
	return fs
}

// parseInterleaved parses flags that may come before or after the paths.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var paths []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return paths, nil
		}
		if rest[0] == "--" {
			return append(paths, rest[1:]...), nil
		}
		paths = append(paths, rest[0])
		args = rest[1:]
	}
}

// commandArgs parses a command's flags and the paths among them
// (parseInterleaved). done is true when the command has nothing more to do:
// --help was printed (err is nil), or the usage is wrong (err says how).
// With needPaths, a command given no path prints its usage and fails.
func commandArgs(fs *flag.FlagSet, args []string, needPaths bool) (paths []string, done bool, err error) {
	paths, err = parseInterleaved(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return nil, true, nil
	case err != nil:
		return nil, true, usageErr("%v", err)
	case needPaths && len(paths) == 0:
		fs.Usage()
		return nil, true, usageErr("%s needs at least one PATH (a file, a directory, or - for standard input)", fs.Name())
	}
	return paths, false, nil
}

// checkBatchSize refuses a --batch-size outside what the engine and the
// baselines' remembered event IDs support.
func checkBatchSize(n int) error {
	if n < 1 || n > 10000 {
		return usageErr("--batch-size must be between 1 and 10000")
	}
	return nil
}

func runReplay(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var o replayOptions
	fs := replayFlags(&o, stderr)
	paths, done, err := commandArgs(fs, args, true)
	if done {
		return err
	}
	if err := checkBatchSize(o.batchSize); err != nil {
		return err
	}
	if o.format != "json" && o.format != "text" && o.format != "ocsf" {
		return usageErr("--format must be json, text or ocsf")
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	cfg, err := loadConfig(o.configFile, stderr)
	if err != nil {
		return err
	}
	minSev := cfg.Routing.SNSMinSeverity
	if o.minSeverity != "" {
		if minSev, err = detectors.ParseSeverity(o.minSeverity); err != nil {
			return usageErr("--min-severity: %v", err)
		}
	}
	norm, err := inputNormalizer(cfg, o.ipRanges, paths)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rd := &events.Reader{Normalizer: norm, Stdin: stdin, Window: o.window}
	if err := setupArchive(ctx, rd, &o.archive, o.region, paths); err != nil {
		return err
	}

	var store detectors.Store
	switch o.store {
	case "memory":
		store = baselines.NewMemory()
	case "dynamodb":
		if openDynamoDB == nil {
			return errors.New("--store dynamodb is not available in this build")
		}
		if store, err = openDynamoDB(ctx, &o, log); err != nil {
			return err
		}
	default:
		return usageErr("--store must be memory or dynamodb")
	}

	eng := detectors.NewEngine(cfg, store, log)
	findings := map[string]detectors.Finding{} // latest state, by ID
	suppressed := map[string]int{}
	start := time.Now()

	stopProgress := startProgress(o.progress, stderr, &rd.Stats, start)
	var readErr error
	batch := make([]events.Event, 0, o.batchSize)
	var processErr error
	var failedEvents, futureEvents int
	flush := func() bool {
		if len(batch) == 0 {
			return true
		}
		res, err := eng.Process(ctx, batch)
		batch = batch[:0]
		if err != nil {
			processErr = err
			return false
		}
		failedEvents += len(res.Failed)
		futureEvents += res.Future
		for _, u := range res.Updates {
			findings[u.Finding.ID] = u.Finding
		}
		for n, c := range res.Suppressed {
			suppressed[n] += c
		}
		return true
	}
	for ev := range rd.EventsContext(ctx, paths, &readErr) {
		if ctx.Err() != nil {
			break
		}
		batch = append(batch, ev)
		if len(batch) == o.batchSize && !flush() {
			break
		}
	}
	if processErr == nil {
		flush()
	}
	stopProgress()
	elapsed := time.Since(start)
	if readErr != nil {
		return readErr
	}
	if processErr != nil {
		return processErr
	}
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}

	out := selectFindings(findings, minSev, o.includeShadow)
	if err := writeFindings(stdout, out, o.format); err != nil {
		return fmt.Errorf("write findings: %w", err)
	}
	if !o.quiet {
		writeSummary(stderr, summaryData{
			stats: &rd.Stats, elapsed: elapsed, printed: out, all: findings,
			principals: principalCount(store), store: store, failed: failedEvents,
			minSev: minSev, suppressed: suppressed, future: futureEvents,
		})
	}
	if failedEvents > 0 {
		return fmt.Errorf("%d events could not be saved to the store", failedEvents)
	}
	return nil
}

// loadConfig returns the embedded defaults, or the config file with its
// warnings printed on stderr.
func loadConfig(file string, stderr io.Writer) (*detectors.Config, error) {
	if file == "" {
		return config.Default(), nil
	}
	cfg, warnings, err := config.Load(file, time.Now())
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "trailwatch: %s: warning: %s\n", file, w)
	}
	return cfg, nil
}

// inputNormalizer is the normalizer of the commands that read archives
// (replay, backfill, tune): the config's keying, selection and named
// networks, and AWS's ranges when given; it also checks that every input path is readable.
func inputNormalizer(cfg *detectors.Config, ipRanges string, paths []string) (*events.Normalizer, error) {
	norm := &events.Normalizer{Keying: cfg.Keying, Selection: cfg.Selection, Networks: cfg.NamedNetworks}
	if ipRanges != "" {
		var err error
		if norm.Ranges, err = events.LoadIPRangesFile(ipRanges); err != nil {
			return nil, err
		}
	}
	if err := events.CheckPaths(paths); err != nil {
		return nil, err
	}
	return norm, nil
}

// selectFindings returns the findings to print: by default exactly those
// routed in alert mode at or above the routing minimum, with their final
// state.
func selectFindings(all map[string]detectors.Finding, minSev detectors.Severity, shadow bool) []detectors.Finding {
	var out []detectors.Finding
	for _, f := range all {
		if f.Severity < minSev {
			continue
		}
		if f.Mode == detectors.ModeShadow && !shadow {
			continue
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].FirstEventTime.Equal(out[j].FirstEventTime) {
			return out[i].FirstEventTime.Before(out[j].FirstEventTime)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func writeFindings(w io.Writer, fs []detectors.Finding, format string) error {
	switch format {
	case "text":
		return render.Text(w, fs)
	case "ocsf":
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for i := range fs {
			if err := enc.Encode(render.OCSF(fs[i], time.Now())); err != nil {
				return err
			}
		}
		return nil
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for i := range fs {
		if err := enc.Encode(&fs[i]); err != nil {
			return err
		}
	}
	return nil
}

func principalCount(s detectors.Store) int {
	if m, ok := s.(interface{ Len() int }); ok {
		return m.Len()
	}
	return -1
}

type summaryData struct {
	stats      *events.Stats
	elapsed    time.Duration
	printed    []detectors.Finding
	all        map[string]detectors.Finding
	principals int
	store      detectors.Store
	failed     int
	minSev     detectors.Severity
	suppressed map[string]int
	// future counts events the engine skipped for an eventTime ahead of
	// the clock (detectors.Engine.MaxSkew).
	future int
}

func writeSummary(w io.Writer, d summaryData) {
	s := d.stats
	read := s.Read.Load()
	secs := d.elapsed.Seconds()
	if secs <= 0 {
		secs = 1e-9
	}
	var b strings.Builder
	fmt.Fprintf(&b, "trailwatch replay summary\n")
	fmt.Fprintf(&b, "  records read:      %d in %d file(s), %.1f MB\n", read, s.Files.Load(), float64(s.Bytes.Load())/1e6)
	fmt.Fprintf(&b, "  events decoded:    %d\n", s.Events.Load())
	if n := s.OutOfRange.Load(); n > 0 {
		fmt.Fprintf(&b, "  outside the range: %d (--since/--until)\n", n)
	}
	fmt.Fprintf(&b, "  events selected:   %d (%d mutating, %d console sign-ins, %d denied for authorization)\n",
		s.Selected.Load(), s.Mutating.Load(), s.SignIns.Load(), s.Denied.Load())
	skips := s.Skips()
	reasons := make([]string, 0, len(skips))
	for r := range skips {
		reasons = append(reasons, string(r))
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		n := skips[events.SkipReason(r)]
		ex := s.SkipExample(events.SkipReason(r))
		if ex != "" {
			fmt.Fprintf(&b, "  skipped %-26s %d (e.g. %s)\n", r+":", n, ex)
		} else {
			fmt.Fprintf(&b, "  skipped %-26s %d\n", r+":", n)
		}
	}
	if d.future > 0 {
		fmt.Fprintf(&b, "  skipped %-26s %d (dated more than %v ahead of the clock; never scored or learned)\n",
			string(events.SkipFuture)+":", d.future, detectors.DefaultMaxSkew)
	}
	if late := s.Late.Load(); late > 0 {
		fmt.Fprintf(&b, "  processed late (beyond the reorder window): %d\n", late)
	}
	if d.principals >= 0 {
		fmt.Fprintf(&b, "  principals:        %d\n", d.principals)
	}
	counts := map[string]int{}
	for _, f := range d.printed {
		counts[f.Detector+" "+f.Severity.String()]++
	}
	fmt.Fprintf(&b, "  findings printed:  %d (severity >= %s; %d findings in all, including unrouted)\n", len(d.printed), d.minSev, len(d.all))
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "    %-36s %d\n", k, counts[k])
	}
	for n, c := range d.suppressed {
		fmt.Fprintf(&b, "  suppressed by %q: %d signal(s)\n", n, c)
	}
	if cr, ok := d.store.(capacityReporter); ok {
		rcu, wcu := cr.ConsumedCapacity()
		sel := float64(s.Selected.Load())
		if sel < 1 {
			sel = 1
		}
		fmt.Fprintf(&b, "  dynamodb capacity: %.1f RCU, %.1f WCU in total; %.3f RCU and %.3f WCU per selected event\n", rcu, wcu, rcu/sel, wcu/sel)
	}
	if d.failed > 0 {
		fmt.Fprintf(&b, "  events not saved:  %d\n", d.failed)
	}
	fmt.Fprintf(&b, "  throughput:        %.0f records/s (%.2fs)\n", float64(read)/secs, d.elapsed.Seconds())
	io.WriteString(w, b.String())
}

// startProgress shows replay's live count on a terminal.
func startProgress(mode string, w io.Writer, s *events.Stats, start time.Time) func() {
	return startTicker(mode, w, func() string {
		n := s.Read.Load()
		rate := float64(n) / time.Since(start).Seconds()
		return fmt.Sprintf("replaying: %d records, %d files, %.1f MB, %.0f records/s", n, s.Files.Load(), float64(s.Bytes.Load())/1e6, rate)
	})
}

// startTicker redraws line() on one terminal line four times a second
// while mode allows it (always, or auto when w is a terminal), and clears
// it when the returned stop function is called.
func startTicker(mode string, w io.Writer, line func() string) func() {
	if !progressShown(mode, w) {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				fmt.Fprint(w, "\r\033[K"+line())
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
