package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/events"
	"github.com/trailwatch/trailwatch/internal/warmstart"
)

// Input is one invocation: list the accounts of the archive under Prefix
// (ListAccounts), or backfill one account's part of it for a range.
type Input struct {
	// ListAccounts asks for the accounts under Prefix instead of a
	// backfill (the orchestration's first step).
	ListAccounts bool `json:"list_accounts,omitempty"`
	// Bucket is the organization trail's bucket; Prefix the archive's
	// root under it ("AWSLogs/", "AWSLogs/o-…/") or one account's
	// directory.
	Bucket string `json:"bucket"`
	Prefix string `json:"prefix"`
	// Account is the 12-digit account to backfill.
	Account string `json:"account,omitempty"`
	// Since and Until are the range: a day (2006-01-02, UTC; Until
	// includes that whole day) or an RFC 3339 time (Until exclusive).
	Since string `json:"since,omitempty"`
	Until string `json:"until,omitempty"`
}

// Accounts is the answer to a ListAccounts invocation.
type Accounts struct {
	Bucket   string              `json:"bucket"`
	Accounts []warmstart.Account `json:"accounts"`
}

// Output is the answer to a backfill invocation.
type Output struct {
	Account string `json:"account"`
	// Prefix is the account's directory that was read.
	Prefix string `json:"prefix"`
	// Backfill is the ID of the checkpoint item (pk BACKFILL#<id>).
	Backfill string `json:"backfill"`
	// Done: the whole range is applied; else invoke again with the same
	// input to continue.
	Done bool `json:"done"`
	// Applied is the events applied by this and earlier invocations;
	// AppliedNow by this one.
	Applied    int64 `json:"applied"`
	AppliedNow int64 `json:"applied_now"`
	// Files is the archive files this invocation read; Principals the
	// principals it wrote.
	Files      int64 `json:"files"`
	Principals int   `json:"principals"`
	// OtherAccounts is the events of other accounts' principals found in
	// this account's archive (cross-account calls), not applied.
	OtherAccounts int64 `json:"other_account_events"`
	// Skipped counts the records skipped, by reason (malformed, not
	// selected, …).
	Skipped map[string]int64 `json:"skipped,omitempty"`
	Seconds float64          `json:"seconds"`
}

// InputError is an invocation the function cannot run (errorType
// InputError): invoking it again does not help.
type InputError struct{ msg string }

func (e *InputError) Error() string { return e.msg }

// BackfillError is a backfill invocation that failed (errorType
// BackfillError): reading the archive or writing the table. The
// checkpoint makes invoking it again with the same input safe.
type BackfillError struct {
	Account string
	Err     error
}

func (e *BackfillError) Error() string {
	return "backfill of account " + e.Account + ": " + e.Err.Error()
}
func (e *BackfillError) Unwrap() error { return e.Err }

// NoProgressError is a backfill invocation that stopped at its deadline
// without applying anything new (errorType NoProgressError): the next
// one would do the same.
type NoProgressError struct {
	Account string
	Err     error
}

func (e *NoProgressError) Error() string {
	return "backfill of account " + e.Account + ": " + e.Err.Error()
}
func (e *NoProgressError) Unwrap() error { return e.Err }

// archiveAPI is the S3 API the function calls: listing and reading the
// archive.
type archiveAPI interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// tableAPI is the DynamoDB API the function calls: the baseline store's
// reads and writes and the backfill's checkpoint and newer-state scan.
type tableAPI interface {
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// handler runs backfill invocations.
type handler struct {
	archive archiveAPI
	table   tableAPI
	name    string // the table's name
	// bucket, when set, is the only bucket the function reads (the one
	// its role may read).
	bucket string
	cfg    *detectors.Config
	norm   *events.Normalizer
	batch  int
	window int
	// parallel is the S3 requests in flight.
	parallel int
	// reserve is how long before the invocation's deadline it stops.
	reserve time.Duration
	// now is the clock the run checks its deadline against (time.Now
	// when nil; tests stop a run after a given number of batches).
	now func() time.Time
	log *slog.Logger
}

// Handle runs one invocation: a ListAccounts or a backfill.
func (h *handler) Handle(ctx context.Context, in Input) (any, error) {
	if in.ListAccounts {
		return h.List(ctx, in)
	}
	return h.Backfill(ctx, in)
}

var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

func (h *handler) checkBucket(in Input) error {
	if !bucketName.MatchString(in.Bucket) {
		return &InputError{fmt.Sprintf("bucket %q: want an S3 bucket name", in.Bucket)}
	}
	if h.bucket != "" && in.Bucket != h.bucket {
		return &InputError{fmt.Sprintf("bucket %s: this function reads only %s (its role's grant)", in.Bucket, h.bucket)}
	}
	if strings.HasPrefix(in.Prefix, "/") || strings.Contains(in.Prefix, "//") {
		return &InputError{fmt.Sprintf("prefix %q: want a key prefix such as AWSLogs/o-…/", in.Prefix)}
	}
	return nil
}

// List returns the accounts of the archive under the input's prefix.
func (h *handler) List(ctx context.Context, in Input) (*Accounts, error) {
	if err := h.checkBucket(in); err != nil {
		return nil, err
	}
	accts, err := warmstart.ListAccounts(ctx, h.archive, in.Bucket, in.Prefix)
	if err != nil {
		return nil, &BackfillError{Account: "(list)", Err: err}
	}
	if accts == nil {
		accts = []warmstart.Account{}
	}
	h.log.InfoContext(ctx, "accounts listed", "bucket", in.Bucket, "prefix", in.Prefix, "accounts", len(accts))
	return &Accounts{Bucket: in.Bucket, Accounts: accts}, nil
}

// Backfill applies the input's account and range, until done or until the
// invocation's deadline is nearer than the reserve.
func (h *handler) Backfill(ctx context.Context, in Input) (*Output, error) {
	start := time.Now()
	if err := h.checkBucket(in); err != nil {
		return nil, err
	}
	if in.Since == "" || in.Until == "" {
		return nil, &InputError{"since and until are required (the range of the archive to learn from)"}
	}
	since, until, err := warmstart.ParseRange(in.Since, in.Until)
	if err != nil {
		return nil, &InputError{err.Error()}
	}
	acct, err := warmstart.FindAccount(ctx, h.archive, in.Bucket, in.Prefix, in.Account)
	if err != nil {
		if errors.Is(err, warmstart.ErrUnknownAccount) {
			return nil, &InputError{err.Error()}
		}
		return nil, &BackfillError{Account: in.Account, Err: err}
	}
	rd := &events.Reader{Normalizer: h.norm, Window: h.window, S3: h.archive, Parallel: h.parallel, Since: since, Until: until}
	store := baselines.NewDynamoDB(h.table, h.name, h.log)
	store.Forget = h.cfg.Forget
	job := &warmstart.Job{
		Table: h.name, Client: h.table, Store: store, Config: h.cfg, Log: h.log,
		Reader: rd, Paths: []string{"s3://" + in.Bucket + "/" + acct.Prefix}, BatchSize: h.batch,
		Account:   acct.ID,
		NewerHint: "backfill into a table without newer state for this account",
		Reserve:   h.reserve,
		Now:       h.now,
	}
	res, err := warmstart.Run(ctx, job)
	out := &Output{Account: acct.ID, Prefix: acct.Prefix, Files: rd.Stats.Files.Load(), Seconds: time.Since(start).Seconds()}
	if res != nil {
		out.Backfill, out.Done, out.Applied, out.AppliedNow = res.ID, res.Done, res.Applied, res.Applied-res.Resumed
		out.Principals, out.OtherAccounts = res.Principals, res.OtherAccount
	}
	for r, n := range rd.Stats.Skips() {
		if out.Skipped == nil {
			out.Skipped = map[string]int64{}
		}
		out.Skipped[string(r)] = n
	}
	if err != nil {
		if errors.Is(err, warmstart.ErrNoProgress) {
			return nil, &NoProgressError{Account: acct.ID, Err: err}
		}
		return nil, &BackfillError{Account: acct.ID, Err: err}
	}
	h.log.InfoContext(ctx, "backfill invocation", "account", out.Account, "backfill", out.Backfill, "done", out.Done,
		"applied", out.Applied, "applied_now", out.AppliedNow, "files", out.Files, "principals", out.Principals,
		"other_account_events", out.OtherAccounts, "seconds", out.Seconds)
	return out, nil
}
