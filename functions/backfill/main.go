// Command backfill is the Lambda function of the organization-scale warm
// start: the unit of work of `trailwatch backfill` (internal/warmstart)
// for one account of the organization trail's archive, run by a Step
// Functions state machine (infra/internal/backfill) that lists the
// accounts, then backfills them in parallel, invoking this function again
// for an account until it answers done.
//
// Input, one of:
//
//	{"list_accounts": true, "bucket": "my-org-trail", "prefix": "AWSLogs/o-abc123def4/"}
//	  → {"bucket": …, "accounts": [{"account": "111122223333", "prefix": "AWSLogs/o-…/111122223333/"}, …]}
//	{"bucket": …, "prefix": …, "account": "111122223333", "since": "2026-09-01", "until": "2026-12-01"}
//	  → {"account": …, "done": true|false, "applied": N, "applied_now": N, "files": N, …}
//
// A backfill invocation stops STOP_RESERVE before its deadline, after
// saving its checkpoint, and answers done=false; the same input continues.
// It applies only the account's own principals' events and never
// publishes anything. Errors carry the types InputError (the input is
// wrong: do not retry), BackfillError (S3 or DynamoDB failed: retrying is
// safe) and NoProgressError (the deadline came before anything new was
// applied).
//
// Environment:
//
//	TABLE_NAME         the baselines table (required)
//	ARCHIVE_BUCKET     the only bucket inputs may name (optional)
//	CONFIG_PARAMETER   SSM parameter holding the deployed thresholds.yaml
//	                   (default: the embedded defaults)
//	IP_RANGES_BUCKET,  the copy of AWS's ip-ranges.json the ipranges
//	IP_RANGES_KEY      function keeps (optional; without it public
//	                   addresses are not classified as AWS's)
//	BATCH_SIZE         events per engine batch (default 100, as detect)
//	STOP_RESERVE       how long before the deadline to stop (default 60s)
//	S3_PARALLEL        S3 requests in flight (default 16)
//	LOG_LEVEL          DEBUG | INFO | WARN | ERROR (default INFO)
//
// AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_SSM,
// honoured by the AWS SDK, point the clients at local servers in tests
// (S3 then uses path-style addressing).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/config"
	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/events"
	"github.com/trailwatch/trailwatch/internal/configparam"
	"github.com/trailwatch/trailwatch/internal/lambdaenv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "backfill:", err)
		os.Exit(1)
	}
}

// env is the raw environment, read once.
type env struct {
	Table         string `env:"TABLE_NAME"`
	ArchiveBucket string `env:"ARCHIVE_BUCKET"`
	ConfigName    string `env:"CONFIG_PARAMETER"`
	RangesBucket  string `env:"IP_RANGES_BUCKET"`
	RangesKey     string `env:"IP_RANGES_KEY"`
	BatchSize     string `env:"BATCH_SIZE"`
	Reserve       string `env:"STOP_RESERVE"`
	Parallel      string `env:"S3_PARALLEL"`
	S3Endpoint    string `env:"AWS_ENDPOINT_URL_S3"`
	LogLevel      string `env:"LOG_LEVEL"`
}

// settings is the validated configuration.
type settings struct {
	table, archiveBucket, configName string
	rangesBucket, rangesKey          string
	batch, parallel                  int
	reserve                          time.Duration
	pathStyle                        bool
	logLevel                         slog.Level
}

// Defaults of the settings.
const (
	defaultBatch    = 100
	defaultReserve  = 60 * time.Second
	defaultParallel = 16
	// reorderWindow is trailwatch backfill's default --reorder-window.
	reorderWindow = 16384
)

func (e env) validate() (settings, error) {
	s := settings{table: e.Table, archiveBucket: e.ArchiveBucket, configName: e.ConfigName,
		rangesBucket: e.RangesBucket, rangesKey: e.RangesKey,
		batch: defaultBatch, parallel: defaultParallel, reserve: defaultReserve, pathStyle: e.S3Endpoint != ""}
	if n := len(s.table); n < 3 || n > 255 {
		return s, fmt.Errorf("TABLE_NAME: want a DynamoDB table name (3 to 255 characters), got %q", e.Table)
	}
	if s.archiveBucket != "" && !bucketName.MatchString(s.archiveBucket) {
		return s, fmt.Errorf("ARCHIVE_BUCKET: want an S3 bucket name, got %q", e.ArchiveBucket)
	}
	if (s.rangesBucket == "") != (s.rangesKey == "") {
		return s, fmt.Errorf("IP_RANGES_BUCKET and IP_RANGES_KEY go together")
	}
	if e.BatchSize != "" {
		n, err := strconv.Atoi(e.BatchSize)
		if err != nil || n < 1 || n > detectors.RecentEventIDs {
			return s, fmt.Errorf("BATCH_SIZE: want 1 to %d, got %q", detectors.RecentEventIDs, e.BatchSize)
		}
		s.batch = n
	}
	if e.Parallel != "" {
		n, err := strconv.Atoi(e.Parallel)
		if err != nil || n < 1 || n > 64 {
			return s, fmt.Errorf("S3_PARALLEL: want 1 to 64, got %q", e.Parallel)
		}
		s.parallel = n
	}
	if e.Reserve != "" {
		d, err := time.ParseDuration(e.Reserve)
		if err != nil || d < 0 {
			return s, fmt.Errorf("STOP_RESERVE: want a duration such as 60s, got %q", e.Reserve)
		}
		s.reserve = d
	}
	if e.LogLevel != "" {
		if err := s.logLevel.UnmarshalText([]byte(e.LogLevel)); err != nil {
			return s, fmt.Errorf("LOG_LEVEL: %w", err)
		}
	}
	return s, nil
}

func run() error {
	var e env
	lambdaenv.Read(&e, os.Getenv)
	s, err := e.validate()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log := lambdaenv.Logger(os.Stdout, s.logLevel)
	ctx := context.Background()
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = s.parallel + 2
	})))
	if err != nil {
		return fmt.Errorf("load AWS config: %w", err)
	}
	archive := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.UsePathStyle = s.pathStyle
		// CloudTrail files are gzip, whose CRC-32 the decoder checks.
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	cfg, err := loadConfig(ctx, ssm.NewFromConfig(awsCfg), s.configName)
	if err != nil {
		return err
	}
	norm := &events.Normalizer{Keying: cfg.Keying}
	if s.rangesBucket != "" {
		if norm.Ranges, err = loadRanges(ctx, archive, s.rangesBucket, s.rangesKey); err != nil {
			return err
		}
	} else {
		log.Warn("no IP_RANGES_BUCKET: public addresses are not classified against AWS's ranges")
	}
	h := &handler{
		archive: archive, table: baselines.NewDynamoDBClient(awsCfg, ""), name: s.table,
		bucket: s.archiveBucket, cfg: cfg, norm: norm,
		batch: s.batch, window: reorderWindow, parallel: s.parallel, reserve: s.reserve, log: log,
	}
	log.Info("backfill starting", "table", s.table, "archive_bucket", s.archiveBucket, "config_parameter", s.configName,
		"batch_size", s.batch, "stop_reserve", s.reserve.String())
	lambda.Start(h.Handle)
	return nil
}

// loadConfig reads the deployed thresholds.yaml once (a backfill must
// learn with the config the stack runs; an unreadable or invalid one
// fails the cold start), or the embedded defaults without a parameter.
func loadConfig(ctx context.Context, c configparam.SSMAPI, name string) (*detectors.Config, error) {
	if name == "" {
		return config.Default(), nil
	}
	doc, err := configparam.Read(ctx, c, name)
	if err != nil {
		return nil, err
	}
	cfg, _, err := config.Parse(name, doc, time.Now())
	if err != nil {
		return nil, fmt.Errorf("config parameter %s: %w", name, err)
	}
	return cfg, nil
}

// loadRanges reads the ipranges function's copy of AWS's ranges.
func loadRanges(ctx context.Context, c archiveAPI, bucket, key string) (*events.IPRanges, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("read AWS ranges s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	r, err := events.ReadIPRanges(out.Body)
	if err != nil {
		return nil, fmt.Errorf("read AWS ranges s3://%s/%s: %w", bucket, key, err)
	}
	return r, nil
}
