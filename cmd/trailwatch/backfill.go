package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/events"
	"github.com/trailwatch/trailwatch/internal/warmstart"
)

const backfillUsage = `Usage: trailwatch backfill --since DAY --until DAY [flags] PATH...

Warm start: builds the per-principal baselines from a date range of the
CloudTrail archive into the DynamoDB table the deployed stack uses, with the
exact production detection code, before the stack goes live. Nothing is
published: findings the history holds are kept as the detect function would
keep them (so it does not page again for them), never routed.

PATH is s3://BUCKET[/PREFIX] (the organization trail's archive: only the day
directories of the range are listed and read), a local copy of the archive in
that layout, or any replay input. Events are applied in eventTime order.

Resumable: progress is kept in the table (one item per backfill, keyed by its
inputs and range) after each batch's principals are saved; running the same
command again after an interruption continues where it stopped and never
counts an event twice; running it after it completed does nothing.

Refuses, with the reason, to write into a table that already holds state
newer than the range (a principal seen after --until, or seen at or after
--since when this is not a resumed run, or another backfill reaching later),
unless --allow-newer-state.

Flags:
`

// backfillOptions are the flags of trailwatch backfill.
type backfillOptions struct {
	configFile  string
	table       string
	endpoint    string
	region      string
	createTable bool
	batchSize   int
	ipRanges    string
	progress    string
	quiet       bool
	window      int
	allowNewer  bool
	archive     archiveFlags

	// afterBatch, when set (tests), is called after each checkpoint with
	// the number of events applied.
	afterBatch func(applied int64)
}

func backfillFlags(o *backfillOptions, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("backfill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.configFile, "config", "", "thresholds.yaml the deployed stack uses (default: the embedded defaults)")
	fs.StringVar(&o.table, "table", "trailwatch-baselines", "DynamoDB table of the deployed stack (its BaselineTableName output)")
	fs.StringVar(&o.endpoint, "endpoint", "", "DynamoDB endpoint URL, e.g. http://127.0.0.1:8000 (default: AWS)")
	fs.StringVar(&o.region, "region", "", "AWS region for the DynamoDB and S3 clients (default: from the environment, else us-east-1)")
	fs.BoolVar(&o.createTable, "create-table", false, "create the DynamoDB table if it does not exist")
	fs.IntVar(&o.batchSize, "batch-size", 100, "events per engine batch (at most the baselines' remembered event IDs)")
	fs.StringVar(&o.ipRanges, "aws-ip-ranges", os.Getenv("TRAILWATCH_AWS_IP_RANGES"), "AWS ip-ranges.json, plain or gzip (env TRAILWATCH_AWS_IP_RANGES); use the list the deployed function uses")
	fs.StringVar(&o.progress, "progress", "auto", "progress bar on standard error: auto (when it is a terminal), always or never")
	fs.BoolVar(&o.quiet, "quiet", false, "do not print the summary")
	fs.IntVar(&o.window, "reorder-window", 16384, "events held to put records in time order across files")
	fs.BoolVar(&o.allowNewer, "allow-newer-state", false, "write even though the table holds state newer than the range (older events are then applied after newer ones, or counted twice)")
	archiveFlagSet(fs, &o.archive)
	fs.Usage = func() {
		fmt.Fprint(stderr, backfillUsage)
		fs.PrintDefaults()
		fmt.Fprint(stderr, `
Exit status: 0 when the range is applied (or was already), 1 when the run
fails or is interrupted (run the same command again to resume), 2 on wrong
usage.
`)
	}
	return fs
}

func runBackfill(args []string, stdout, stderr io.Writer) error {
	var o backfillOptions
	fs := backfillFlags(&o, stderr)
	paths, done, err := commandArgs(fs, args, false)
	if done {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	_, err = backfill(ctx, &o, paths, stderr)
	return err
}

// backfillResult is what a backfill run did.
type backfillResult struct {
	// Applied is the events applied by this and earlier runs of the same
	// backfill; Resumed those applied before this run.
	Applied, Resumed int64
	Principals       int // principals written by this run
	Done             bool
}

// newerStateError is backfill's one-line refusal.
type newerStateError = warmstart.NewerStateError

// newerStateHint ends the refusal: what the user can do about it.
const newerStateHint = "pass --allow-newer-state to write anyway, or use an empty table"

// backfill runs the command: the checks of its flags, then the shared unit
// of work (internal/warmstart) over every input, with a progress bar and a
// summary.
func backfill(ctx context.Context, o *backfillOptions, paths []string, stderr io.Writer) (*backfillResult, error) {
	if len(paths) == 0 {
		return nil, usageErr("backfill needs at least one PATH (s3://BUCKET/PREFIX or a local copy of the archive)")
	}
	if o.archive.since == "" || o.archive.until == "" {
		return nil, usageErr("backfill needs --since and --until (the range of the archive to learn from)")
	}
	if o.batchSize < 1 || o.batchSize > detectors.RecentEventIDs {
		return nil, usageErr("--batch-size must be between 1 and %d (a batch re-applied after an interruption must be recognized)", detectors.RecentEventIDs)
	}
	if n := len(o.table); n < 3 || n > 255 {
		return nil, usageErr("--table: DynamoDB table names are 3 to 255 characters long, got %q", o.table)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg, err := loadConfig(o.configFile, stderr)
	if err != nil {
		return nil, err
	}
	norm, err := inputNormalizer(cfg, o.ipRanges, paths)
	if err != nil {
		return nil, err
	}
	rd := &events.Reader{Normalizer: norm, Window: o.window}
	if err := setupArchive(ctx, rd, &o.archive, o.region, paths); err != nil {
		return nil, err
	}

	client, err := backfillClient(ctx, o)
	if err != nil {
		return nil, err
	}
	ddb := baselines.NewDynamoDB(client, o.table, log)
	ddb.Forget = cfg.Forget
	store := &replayStore{DynamoDB: ddb, table: o.table}

	start := time.Now()
	var applied atomic.Int64
	stopProgress := func() {}
	started := false
	job := &warmstart.Job{
		Table: o.table, Client: client, Store: store, Config: cfg, Log: log,
		Reader: rd, Paths: paths, BatchSize: o.batchSize,
		AllowNewer: o.allowNewer, NewerHint: newerStateHint,
		Applied: &applied, AfterBatch: o.afterBatch,
	}
	// The bar starts once the checkpoint is read (an already complete
	// backfill shows none).
	job.Started = func() {
		started, start = true, time.Now()
		stopProgress = startBackfillProgress(o.progress, stderr, &rd.Stats, &applied, start)
	}
	r, err := warmstart.Run(ctx, job)
	stopProgress()
	elapsed := time.Since(start)
	if r == nil || (!started && !r.AlreadyDone) {
		// Refused, or failed, before reading anything: no summary.
		return nil, err
	}
	if r.AlreadyDone {
		if !o.quiet {
			fmt.Fprintf(stderr, "trailwatch backfill: already complete in table %s: %d events of %s .. %s applied; nothing to do\n",
				o.table, r.Applied, rd.Since.Format(time.RFC3339), rd.Until.Format(time.RFC3339))
		}
		return &backfillResult{Applied: r.Applied, Resumed: r.Resumed, Done: true}, nil
	}
	res := &backfillResult{Applied: r.Applied, Resumed: r.Resumed, Principals: r.Principals, Done: r.Done}
	if !o.quiet {
		writeBackfillSummary(stderr, o.table, rd, res, store, r.RCU, r.WCU, elapsed)
	}
	return res, err
}

// backfillClient opens the DynamoDB client and checks (or creates) the
// table, as replay --store dynamodb does.
func backfillClient(ctx context.Context, o *backfillOptions) (*dynamodb.Client, error) {
	return openDynamoDBClient(ctx, o.table, o.endpoint, o.region, o.createTable)
}

// startBackfillProgress shows a progress bar on a terminal: files read of
// those listed, events applied, rate.
func startBackfillProgress(mode string, w io.Writer, s *events.Stats, applied *atomic.Int64, start time.Time) func() {
	return startTicker(mode, w, func() string {
		return progressLine(s.Files.Load(), s.Listed.Load(), applied.Load(), time.Since(start))
	})
}

// progressLine renders the bar: files read of files listed.
func progressLine(files, listed, applied int64, elapsed time.Duration) string {
	const width = 30
	frac := 0.0
	if listed > 0 {
		frac = min(1, float64(files)/float64(listed))
	}
	n := int(frac * width)
	bar := strings.Repeat("=", n) + strings.Repeat(" ", width-n)
	rate := float64(applied) / max(elapsed.Seconds(), 1e-9)
	return fmt.Sprintf("backfill [%s] %3.0f%%  %d/%d files  %d events applied  %.0f events/s", bar, frac*100, files, listed, applied, rate)
}

func writeBackfillSummary(w io.Writer, table string, rd *events.Reader, res *backfillResult, store capacityReporter, rcu, wcu float64, elapsed time.Duration) {
	s := &rd.Stats
	var b strings.Builder
	state := "complete"
	if !res.Done {
		state = "stopped (run the same command again to resume)"
	}
	fmt.Fprintf(&b, "trailwatch backfill summary: %s\n", state)
	fmt.Fprintf(&b, "  table:             %s\n", table)
	fmt.Fprintf(&b, "  range:             %s .. %s\n", rd.Since.Format(time.RFC3339), rd.Until.Format(time.RFC3339))
	fmt.Fprintf(&b, "  files read:        %d of %d listed, %.1f MB\n", s.Files.Load(), s.Listed.Load(), float64(s.Bytes.Load())/1e6)
	fmt.Fprintf(&b, "  records read:      %d (%d outside the range)\n", s.Read.Load(), s.OutOfRange.Load())
	fmt.Fprintf(&b, "  events applied:    %d in all", res.Applied)
	if res.Resumed > 0 {
		fmt.Fprintf(&b, " (%d by an earlier run, skipped)", res.Resumed)
	}
	b.WriteString("\n")
	for r, n := range s.Skips() {
		if r == events.SkipNotSelected {
			continue
		}
		fmt.Fprintf(&b, "  skipped %-26s %d\n", string(r)+":", n)
	}
	fmt.Fprintf(&b, "  principals:        %d written by this run\n", res.Principals)
	r, wr := store.ConsumedCapacity()
	fmt.Fprintf(&b, "  dynamodb capacity: %.1f RCU, %.1f WCU\n", r+rcu, wr+wcu)
	fmt.Fprintf(&b, "  findings routed:   none (backfill never publishes)\n")
	fmt.Fprintf(&b, "  throughput:        %.0f events/s (%.2fs)\n", float64(res.Applied-res.Resumed)/max(elapsed.Seconds(), 1e-9), elapsed.Seconds())
	io.WriteString(w, b.String())
}
