package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/events"
	"github.com/trailwatch/trailwatch/internal/emf"
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
	log := slog.New(&requestIDHandler{slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{
		Level: s.logLevel, ReplaceAttr: lambdacontext.ReplaceAttr,
	})})
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
			l.ranges, l.err = events.LoadIPRangesFile(s.ipRanges)
			debug.SetGCPercent(old)
		}
		rangesCh <- l
	}()
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load AWS config: %w", err)
	}
	store := baselines.NewDynamoDB(baselines.NewDynamoDBClient(awsCfg, ""), s.table, log)
	configs := &configSource{
		client: ssm.NewFromConfig(awsCfg), name: s.configName, ttl: s.configTTL,
		now: time.Now, log: log, metrics: metrics,
	}
	l := <-rangesCh
	if l.err != nil {
		return fmt.Errorf("AWS_IP_RANGES_FILE: %w", l.err)
	}
	ranges := l.ranges
	h := &handler{
		store:     store,
		publisher: &notify.SNSPublisher{Client: sns.NewFromConfig(awsCfg), TopicARN: s.topicARN},
		configs:   configs,
		ranges:    ranges,
		log:       log,
		metrics:   metrics,
	}
	log.Info("detect starting", "table", s.table, "topic", s.topicARN, "config_parameter", s.configName,
		"config_ttl", s.configTTL.String(), "ip_ranges", ranges.Len())
	lambda.Start(h.Handle)
	return nil
}

// requestIDHandler adds the Lambda request ID to every record logged with
// the invocation's context.
type requestIDHandler struct{ slog.Handler }

func (h *requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		r.AddAttrs(slog.String("requestId", lc.AwsRequestID))
	}
	return h.Handler.Handle(ctx, r)
}

func (h *requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h *requestIDHandler) WithGroup(name string) slog.Handler {
	return &requestIDHandler{h.Handler.WithGroup(name)}
}
