package main

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/events"
	"github.com/trailwatch/trailwatch/heartbeat"
	"github.com/trailwatch/trailwatch/internal/emf"
	"github.com/trailwatch/trailwatch/internal/lambdaenv"
	"github.com/trailwatch/trailwatch/notify"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "detect:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()
	s, err := readEnv(os.Getenv).validate()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log := lambdaenv.Logger(os.Stdout, s.logLevel)
	metrics := &emf.Writer{W: os.Stdout}

	// Parsing ip-ranges.json is most of the cold start: overlap it with
	// the SDK setup.
	type loaded struct {
		ranges *events.IPRanges
		err    error
	}
	rangesCh := make(chan loaded, 1)
	go func() {
		var l loaded
		if s.ipRanges != "" {
			// The parse allocates a few MB of garbage: no GC cycles for it.
			old := debug.SetGCPercent(-1)
			l.ranges, l.err = loadBundled(s.ipRanges)
			debug.SetGCPercent(old)
		}
		rangesCh <- l
	}()
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load AWS config: %w", err)
	}
	dynamo := baselines.NewDynamoDBClient(awsCfg, "")
	store := baselines.NewDynamoDB(dynamo, s.table, log)
	configs := &configSource{
		client: ssm.NewFromConfig(awsCfg), name: s.configName, ttl: s.configTTL,
		protection: s.protection,
		now:        time.Now, log: log, metrics: metrics,
	}
	l := <-rangesCh
	var s3Client s3GetAPI
	if s.rangesBucket != "" {
		s3Client = s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = s.s3PathStyle })
	}
	switch {
	case l.err != nil && s3Client == nil:
		return fmt.Errorf("AWS_IP_RANGES_FILE: %w", l.err)
	case l.err != nil:
		// The bucket copy can still supply the ranges on the first invoke.
		_ = metrics.Count("IPRangesRefreshFailures", 1, nil)
		log.Error("bundled AWS ip ranges unreadable, relying on the bucket copy", "file", s.ipRanges, "error", l.err)
	}
	ranges := newRangesSource(s3Client, s.rangesBucket, s.rangesKey, s.rangesTTL, l.ranges, log, metrics)
	h := &handler{
		store:     store,
		publisher: &notify.SNSPublisher{Client: sns.NewFromConfig(awsCfg), TopicARN: s.topicARN},
		configs:   configs,
		ranges:    ranges,
		log:       log,
		metrics:   metrics,
		now:       time.Now,
		margin:    defaultMargin,
		reserve:   defaultReserve,
		// Heartbeats of the accounts and regions events arrive from, in the
		// same table (package heartbeat).
		heartbeats: &heartbeat.Recorder{Store: &heartbeat.Store{Client: dynamo, Table: s.table}},
		silence:    &heartbeat.Checker{Store: &heartbeat.Store{Client: dynamo, Table: s.table}, After: s.silentAfter},
	}
	if s.trailBucket != "" {
		// S3 ingest: the messages announce the trail's log files.
		h.trail = &trailSource{
			client: s3.NewFromConfig(awsCfg, func(o *s3.Options) {
				o.UsePathStyle = s.s3PathStyle
				// The gzip stream carries its own CRC-32, which the
				// decoder checks: no second checksum of every file.
				o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
			}),
			bucket:   s.trailBucket,
			progress: &dynamoProgress{client: dynamo, table: s.table, now: time.Now},
		}
	}
	log.Info("detect starting", "table", s.table, "topic", s.topicARN, "config_parameter", s.configName,
		"config_ttl", s.configTTL.String(), "ip_ranges", l.ranges.Len(), "ip_ranges_sync_token", l.ranges.SyncToken(),
		"ip_ranges_bucket", s.rangesBucket, "ip_ranges_key", s.rangesKey, "ip_ranges_ttl", s.rangesTTL.String(),
		"trail_bucket", s.trailBucket)
	lambda.Start(h.Handle)
	return nil
}
