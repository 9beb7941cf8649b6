package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/trailwatch/trailwatch/events"
	"github.com/trailwatch/trailwatch/internal/warmstart"
)

// archiveFlags are the flags of commands that read the CloudTrail archive:
// the time range and the S3 client.
type archiveFlags struct {
	since, until string
	s3Endpoint   string
	s3Parallel   int
}

// newS3Client returns an S3 client from the standard SDK chain (credentials,
// region: --region, else the environment, else us-east-1), pointed at
// endpoint (an S3-compatible store, path-style addressing) when set, with
// enough idle connections for parallel requests.
func newS3Client(ctx context.Context, region, endpoint string, parallel int) (*s3.Client, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	if endpoint != "" && !envHasCredentials() {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
	}
	if parallel <= 0 {
		parallel = events.DefaultS3Parallel
	}
	opts = append(opts, awsconfig.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = max(parallel, 10) + 2
	})))
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		// CloudTrail files are gzip, whose CRC-32 the decoder checks:
		// no second checksum of every object.
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			o.UsePathStyle = true
		}
	}), nil
}

// setupArchive configures rd for the archive flags: the time range, and an
// S3 client when an input is s3://.
func setupArchive(ctx context.Context, rd *events.Reader, a *archiveFlags, region string, paths []string) error {
	since, until, err := parseRange(a.since, a.until)
	if err != nil {
		return err
	}
	rd.Since, rd.Until, rd.Parallel = since, until, a.s3Parallel
	if slices.ContainsFunc(paths, events.IsS3) {
		if rd.S3, err = newS3Client(ctx, region, a.s3Endpoint, a.s3Parallel); err != nil {
			return err
		}
	}
	return nil
}

// parseRange parses --since and --until: a day (2006-01-02, UTC) or an
// RFC 3339 time. --since is inclusive; --until a day includes that whole
// day, --until a time is exclusive.
func parseRange(since, until string) (from, to time.Time, err error) {
	if since != "" {
		if from, err = parseWhen(since, false); err != nil {
			return from, to, usageErr("--since: %v", err)
		}
	}
	if until != "" {
		if to, err = parseWhen(until, true); err != nil {
			return from, to, usageErr("--until: %v", err)
		}
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return from, to, usageErr("--since %s is not before --until %s", since, until)
	}
	return from, to, nil
}

func parseWhen(s string, end bool) (time.Time, error) { return warmstart.ParseWhen(s, end) }

// archiveFlagSet declares the archive flags on fs.
func archiveFlagSet(fs *flag.FlagSet, a *archiveFlags) {
	fs.StringVar(&a.since, "since", "", "only events at or after this day (2006-01-02, UTC) or RFC 3339 time")
	fs.StringVar(&a.until, "until", "", "only events before the end of this day (2006-01-02, inclusive) or before this RFC 3339 time")
	fs.StringVar(&a.s3Endpoint, "s3-endpoint", "", "S3 endpoint URL for s3:// inputs (an S3-compatible store; path-style addressing)")
	fs.IntVar(&a.s3Parallel, "s3-parallel", events.DefaultS3Parallel, "S3 requests in flight for s3:// inputs (also the files read ahead)")
}
