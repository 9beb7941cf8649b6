package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/events"
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
	paths, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageErr("%v", err)
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

// backfillTableAPI is what backfill calls on the table besides the store.
type backfillTableAPI interface {
	baselines.DynamoDBAPI
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

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
	run := backfillRun{client: client, table: o.table, since: rd.Since, until: rd.Until,
		id: backfillID(paths, rd.Since, rd.Until, o.batchSize, o.window)}

	cp, err := run.load(ctx)
	if err != nil {
		return nil, err
	}
	if cp.Done {
		if !o.quiet {
			fmt.Fprintf(stderr, "trailwatch backfill: already complete in table %s: %d events of %s .. %s applied; nothing to do\n",
				o.table, cp.Applied, rd.Since.Format(time.RFC3339), rd.Until.Format(time.RFC3339))
		}
		return &backfillResult{Applied: cp.Applied, Resumed: cp.Applied, Done: true}, nil
	}
	if !o.allowNewer {
		if err := run.checkNewer(ctx, store, rd.Since, rd.Until, cp.Exists); err != nil {
			return nil, err
		}
	}
	if !cp.Exists {
		// Started: a run cut within its first batch is a resumption.
		if err := run.save(ctx, checkpoint{}); err != nil {
			return nil, err
		}
	}

	eng := detectors.NewEngine(cfg, store, log)
	// No Publisher: nothing leaves. The engine keeps the history's cases
	// in the baselines as the detect function would, so going live does
	// not page again for them.
	res := &backfillResult{Resumed: cp.Applied}
	start := time.Now()
	var applied atomic.Int64
	applied.Store(cp.Applied)
	stopProgress := startBackfillProgress(o.progress, stderr, &rd.Stats, &applied, start)
	principals := map[string]struct{}{}
	var (
		pos              int64 // events yielded by the reader
		batch            = make([]events.Event, 0, o.batchSize)
		runErr, readErr  error
		skipped, checked bool
	)
	flush := func() bool {
		if len(batch) == 0 {
			return true
		}
		r, err := eng.Process(ctx, batch)
		if err != nil {
			runErr = err
			return false
		}
		if len(r.Failed) > 0 {
			if ctx.Err() != nil {
				runErr = errors.New("interrupted: run the same command again to resume")
			} else {
				runErr = fmt.Errorf("%d events of a batch could not be saved (see the log above); run the same command again to resume", len(r.Failed))
			}
			return false
		}
		last := batch[len(batch)-1]
		for i := range batch {
			principals[batch[i].Principal] = struct{}{}
		}
		next := checkpoint{Applied: pos, LastID: last.ID, LastTime: last.Time}
		if err := run.save(ctx, next); err != nil {
			runErr = err
			return false
		}
		applied.Store(pos)
		batch = batch[:0]
		if o.afterBatch != nil {
			o.afterBatch(pos)
		}
		return true
	}
	for ev := range rd.EventsContext(ctx, paths, &readErr) {
		if ctx.Err() != nil {
			runErr = errors.New("interrupted: run the same command again to resume")
			break
		}
		pos++
		if pos <= cp.Applied {
			// Applied by an earlier run: the sequence is deterministic
			// for the same inputs, so the checkpoint's last event must
			// sit at the same position.
			if pos == cp.Applied {
				checked = true
				if ev.ID != cp.LastID {
					runErr = fmt.Errorf("the archive changed since the interrupted run: event %d is %s, the checkpoint says %s; backfill into an empty table", pos, ev.ID, cp.LastID)
					break
				}
			}
			skipped = true
			continue
		}
		batch = append(batch, ev)
		if len(batch) == o.batchSize && !flush() {
			break
		}
	}
	if runErr == nil && readErr == nil {
		if ctx.Err() != nil {
			runErr = errors.New("interrupted: run the same command again to resume")
		} else if flush() && skipped && !checked {
			runErr = fmt.Errorf("the archive changed since the interrupted run: it holds fewer than the %d events already applied; backfill into an empty table", cp.Applied)
		}
	}
	stopProgress()
	elapsed := time.Since(start)
	if runErr == nil && readErr == nil {
		final := checkpoint{Applied: pos, Done: true}
		if c, err := run.load(ctx); err == nil {
			final.LastID, final.LastTime = c.LastID, c.LastTime
		}
		if err := run.save(ctx, final); err != nil {
			runErr = err
		}
	}
	res.Applied = applied.Load()
	res.Principals = len(principals)
	res.Done = runErr == nil && readErr == nil
	if !o.quiet {
		writeBackfillSummary(stderr, o.table, rd, res, store, run.rcu, run.wcu, elapsed)
	}
	if readErr != nil {
		return res, fmt.Errorf("%w (run the same command again to resume)", readErr)
	}
	return res, runErr
}

// backfillClient opens the DynamoDB client and checks (or creates) the
// table, as replay --store dynamodb does.
func backfillClient(ctx context.Context, o *backfillOptions) (*dynamodb.Client, error) {
	return openDynamoDBClient(ctx, o.table, o.endpoint, o.region, o.createTable)
}

// backfillID names a backfill by what determines its event sequence: the
// inputs, the range, the batch size and the reorder window.
func backfillID(paths []string, since, until time.Time, batch, window int) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%d\n%d\n", strings.Join(paths, "\x00"), since.Format(time.RFC3339Nano), until.Format(time.RFC3339Nano), batch, window)
	return hex.EncodeToString(h.Sum(nil))[:20]
}

// Checkpoint items live in the baselines table beside the principals
// (pk "BACKFILL#<id>", sk "PROGRESS"); the detect function never reads
// them.
const (
	backfillPK = "BACKFILL#"
	backfillSK = "PROGRESS"
)

// checkpoint is a backfill's progress: the first Applied events of its
// sequence are in the table (every principal of them saved before the
// checkpoint was written).
type checkpoint struct {
	// Exists is set when the item was found: the backfill was started
	// before, whatever it applied.
	Exists   bool
	Applied  int64
	LastID   string
	LastTime time.Time
	Done     bool
	// Since and Until are the range (for the newer-state check of other
	// backfills).
	Since, Until time.Time
}

// backfillRun reads and writes one backfill's checkpoint.
type backfillRun struct {
	client       backfillTableAPI
	table, id    string
	since, until time.Time
	rcu, wcu     float64
}

func (r *backfillRun) key() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: backfillPK + r.id},
		"sk": &types.AttributeValueMemberS{Value: backfillSK},
	}
}

func (r *backfillRun) load(ctx context.Context) (checkpoint, error) {
	out, err := r.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(r.table), Key: r.key(), ConsistentRead: aws.Bool(true),
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	if err != nil {
		return checkpoint{}, fmt.Errorf("read backfill progress: %w", err)
	}
	if out.ConsumedCapacity != nil {
		r.rcu += aws.ToFloat64(out.ConsumedCapacity.CapacityUnits)
	}
	return decodeCheckpoint(out.Item)
}

func decodeCheckpoint(it map[string]types.AttributeValue) (checkpoint, error) {
	var c checkpoint
	if it == nil {
		return c, nil
	}
	s := func(k string) string {
		if v, ok := it[k].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	n := func(k string) int64 {
		if v, ok := it[k].(*types.AttributeValueMemberN); ok {
			x, _ := strconv.ParseInt(v.Value, 10, 64)
			return x
		}
		return 0
	}
	c.Exists = true
	c.Applied, c.LastID, c.Done = n("applied"), s("last_id"), s("done") == "true"
	if t := n("last_time"); t != 0 {
		c.LastTime = time.Unix(t, 0).UTC()
	}
	if t := n("since"); t != 0 {
		c.Since = time.Unix(t, 0).UTC()
	}
	if t := n("until"); t != 0 {
		c.Until = time.Unix(t, 0).UTC()
	}
	if c.Applied < 0 {
		return c, fmt.Errorf("backfill progress item: applied %d", c.Applied)
	}
	return c, nil
}

// save writes the checkpoint after the principals of its events were saved.
func (r *backfillRun) save(ctx context.Context, c checkpoint) error {
	it := r.key()
	it["applied"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(c.Applied, 10)}
	it["last_id"] = &types.AttributeValueMemberS{Value: c.LastID}
	it["last_time"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(c.LastTime.Unix(), 10)}
	it["done"] = &types.AttributeValueMemberS{Value: strconv.FormatBool(c.Done)}
	it["since"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(r.since.Unix(), 10)}
	it["until"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(r.until.Unix(), 10)}
	out, err := r.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(r.table), Item: it, ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	if err != nil {
		return fmt.Errorf("save backfill progress: %w", err)
	}
	if out.ConsumedCapacity != nil {
		r.wcu += aws.ToFloat64(out.ConsumedCapacity.CapacityUnits)
	}
	return nil
}

// newerStateError is backfill's one-line refusal.
type newerStateError struct{ reason string }

func (e *newerStateError) Error() string {
	return "table holds newer state: " + e.reason + "; pass --allow-newer-state to write anyway, or use an empty table"
}

// checkNewer refuses a table whose state is newer than the range: a
// principal last seen at or after until, one seen at or after since when
// this is a fresh run (its events would be counted twice, or applied out of
// order), or another backfill reaching past until.
func (r *backfillRun) checkNewer(ctx context.Context, store detectors.Store, since, until time.Time, resumed bool) error {
	var start map[string]types.AttributeValue
	var keys []string
	check := func() error {
		if len(keys) == 0 {
			return nil
		}
		states, err := store.Load(ctx, keys)
		if err != nil {
			return fmt.Errorf("read baselines: %w", err)
		}
		keys = keys[:0]
		for k, st := range states {
			if st == nil || st.Baseline == nil {
				continue
			}
			last := time.Unix(st.Baseline.LastSeen, 0).UTC()
			switch {
			case !last.Before(until):
				return &newerStateError{fmt.Sprintf("principal %s was last seen %s, after --until %s", k, last.Format(time.RFC3339), until.Format(time.RFC3339))}
			case !resumed && !last.Before(since):
				return &newerStateError{fmt.Sprintf("principal %s was last seen %s, within the range (from --since %s): its events would be counted twice", k, last.Format(time.RFC3339), since.Format(time.RFC3339))}
			}
		}
		return nil
	}
	for {
		page, err := r.client.Scan(ctx, &dynamodb.ScanInput{
			TableName: aws.String(r.table), ExclusiveStartKey: start,
			ProjectionExpression:     aws.String("pk, sk, #u, done"),
			ExpressionAttributeNames: map[string]string{"#u": "until"},
			ReturnConsumedCapacity:   types.ReturnConsumedCapacityTotal,
		})
		if err != nil {
			return fmt.Errorf("scan table %s: %w", r.table, err)
		}
		if page.ConsumedCapacity != nil {
			r.rcu += aws.ToFloat64(page.ConsumedCapacity.CapacityUnits)
		}
		for _, it := range page.Items {
			pk, _ := it["pk"].(*types.AttributeValueMemberS)
			sk, _ := it["sk"].(*types.AttributeValueMemberS)
			if pk == nil || sk == nil {
				continue
			}
			if id, ok := strings.CutPrefix(pk.Value, backfillPK); ok && id != r.id {
				c, err := decodeCheckpoint(it)
				if err == nil && c.Until.After(until) {
					return &newerStateError{fmt.Sprintf("another backfill reaches %s, after --until %s", c.Until.Format(time.RFC3339), until.Format(time.RFC3339))}
				}
				continue
			}
			if k, ok := strings.CutPrefix(pk.Value, "P#"); ok && sk.Value == "HOT" {
				keys = append(keys, k)
				if len(keys) == 100 {
					if err := check(); err != nil {
						return err
					}
				}
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		start = page.LastEvaluatedKey
	}
	return check()
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
