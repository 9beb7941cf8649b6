package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/trailwatch/trailwatch/events"
	"github.com/trailwatch/trailwatch/internal/emf"
)

// s3GetAPI is the one S3 method the ranges source calls.
type s3GetAPI interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// defaultRangesTTL is how long the ranges in hand are used before the
// bucket copy is checked again (a conditional GET).
const defaultRangesTTL = 10 * time.Minute

// rangesRefreshTimeout bounds one check of the bucket copy, so a slow S3
// never holds an invocation for long.
const rangesRefreshTimeout = 5 * time.Second

// rangesSource hands out AWS's published address ranges: first the file
// bundled with the function (loaded at cold start), then the copy that the
// ipranges function keeps current in S3, checked at most once per TTL with
// a conditional GET on its ETag. A newer copy replaces the ranges
// atomically; one older than the ranges in hand (lower syncToken) is
// ignored. A failed check (S3 unreachable, object missing, unreadable or
// corrupt) keeps the current ranges, logs a warning and counts the
// IPRangesRefreshFailures metric (no dimensions), on every check while it
// lasts; the next check comes a TTL later.
//
// It is safe for concurrent invokes (AWS_LAMBDA_MAX_CONCURRENCY): one
// invoke checks the bucket while the others go on with the current ranges.
// A nil source, or one without a client, hands out only what it holds.
type rangesSource struct {
	client  s3GetAPI
	bucket  string
	key     string
	ttl     time.Duration
	now     func() time.Time
	log     *slog.Logger
	metrics *emf.Writer

	cur  atomic.Pointer[events.IPRanges]
	next atomic.Int64 // Unix nanoseconds of the next check; 0: at once

	mu   sync.Mutex // held by the invoke checking the bucket
	etag string     // of the bucket copy in cur (guarded by mu)
}

// newRangesSource returns a source holding bundled (which may be nil).
func newRangesSource(client s3GetAPI, bucket, key string, ttl time.Duration, bundled *events.IPRanges, log *slog.Logger, metrics *emf.Writer) *rangesSource {
	s := &rangesSource{client: client, bucket: bucket, key: key, ttl: ttl, now: time.Now, log: log, metrics: metrics}
	s.cur.Store(bundled)
	return s
}

// Current returns the ranges to classify addresses with now, checking the
// bucket copy first when the TTL has run out. It never fails: without any
// ranges it returns nil, which classifies no address as AWS's.
func (s *rangesSource) Current(ctx context.Context) *events.IPRanges {
	if s == nil {
		return nil
	}
	if s.client == nil || s.now().UnixNano() < s.next.Load() {
		return s.cur.Load()
	}
	if !s.mu.TryLock() {
		// Another invoke is checking: use what is in hand.
		return s.cur.Load()
	}
	defer s.mu.Unlock()
	if s.now().UnixNano() < s.next.Load() {
		return s.cur.Load()
	}
	if err := s.refresh(ctx); err != nil {
		_ = s.metrics.Count("IPRangesRefreshFailures", 1, nil)
		s.log.WarnContext(ctx, "AWS ip ranges not refreshed, keeping the current ranges",
			"bucket", s.bucket, "key", s.key, "prefixes", s.cur.Load().Len(),
			"sync_token", s.cur.Load().SyncToken(), "error", err)
	}
	s.next.Store(s.now().Add(s.ttl).UnixNano())
	return s.cur.Load()
}

// refresh fetches the bucket copy unless it is the one in hand, and
// installs it if it is not older than the current ranges. Called with mu
// held.
func (s *rangesSource) refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, rangesRefreshTimeout)
	defer cancel()
	in := &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key)}
	if s.etag != "" {
		in.IfNoneMatch = aws.String(s.etag)
	}
	out, err := s.client.GetObject(ctx, in)
	if isNotModified(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get s3://%s/%s: %w", s.bucket, s.key, err)
	}
	defer out.Body.Close()
	etag := aws.ToString(out.ETag)
	if etag != "" && etag == s.etag {
		// A server that ignores If-None-Match: same object, nothing to do.
		return nil
	}
	fresh, err := events.ReadIPRanges(io.LimitReader(out.Body, events.MaxIPRangesBytes))
	if err != nil {
		return fmt.Errorf("read s3://%s/%s: %w", s.bucket, s.key, err)
	}
	cur := s.cur.Load()
	if fresh.SyncToken() < cur.SyncToken() {
		s.etag = etag
		s.log.InfoContext(ctx, "AWS ip ranges in the bucket are older than the bundled ones, keeping the bundled ones",
			"bucket_sync_token", fresh.SyncToken(), "sync_token", cur.SyncToken())
		return nil
	}
	s.cur.Store(fresh)
	s.etag = etag
	s.log.InfoContext(ctx, "AWS ip ranges refreshed", "bucket", s.bucket, "key", s.key,
		"prefixes", fresh.Len(), "sync_token", fresh.SyncToken(), "create_date", fresh.CreateDate(),
		"previous_sync_token", cur.SyncToken())
	return nil
}

// isNotModified reports whether err is S3's answer to a conditional GET
// whose ETag still matches (HTTP 304).
func isNotModified(err error) bool {
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotModified
}

// bundledPath resolves AWS_IP_RANGES_FILE: a relative path names a file
// beside the function's executable (on Lambda, /var/task, where the
// deployment package is unpacked), so the CDK app and a local run under the
// emulator use the same value.
func bundledPath(p string, executable func() (string, error)) (string, error) {
	if p == "" || filepath.IsAbs(p) {
		return p, nil
	}
	exe, err := executable()
	if err != nil {
		return "", fmt.Errorf("locate the function's directory: %w", err)
	}
	return filepath.Join(filepath.Dir(exe), p), nil
}

// loadBundled reads the bundled ranges file; "" loads nothing.
func loadBundled(p string) (*events.IPRanges, error) {
	p, err := bundledPath(p, os.Executable)
	if err != nil || p == "" {
		return nil, err
	}
	return events.LoadIPRangesFile(p)
}
