package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/trailwatch/trailwatch/config"
	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/internal/configparam"
	"github.com/trailwatch/trailwatch/internal/emf"
	"github.com/trailwatch/trailwatch/internal/lambdaenv"
)

// env is the raw environment, read once.
type env struct {
	Table      string `env:"TABLE_NAME"`
	TopicARN   string `env:"TOPIC_ARN"`
	ConfigName string `env:"CONFIG_PARAMETER"`
	ConfigTTL  string `env:"CONFIG_TTL"`
	IPRanges   string `env:"AWS_IP_RANGES_FILE"`
	// RangesBucket and RangesKey locate the copy of AWS's ranges that the
	// ipranges function keeps current; RangesTTL is how often it is
	// checked.
	RangesBucket string `env:"IP_RANGES_BUCKET"`
	RangesKey    string `env:"IP_RANGES_KEY"`
	RangesTTL    string `env:"IP_RANGES_TTL"`
	// S3Endpoint, honoured by the AWS SDK, points S3 at a local server
	// (tests); the client then uses path-style addressing.
	S3Endpoint string `env:"AWS_ENDPOINT_URL_S3"`
	LogLevel   string `env:"LOG_LEVEL"`
	// SelfProtection is the JSON the CDK app passes: the identifiers of
	// the deployed stack's resources ({"resources": ["queue/NAME", …]},
	// see detectors.Protection), added to the built-in protection.
	SelfProtection string `env:"SELF_PROTECTION"`
	// SilentHours is how long an account and region that has sent events
	// may stay silent before it counts in the SilentSources metric.
	SilentHours string `env:"SILENT_HOURS"`
	// Ingest is what the queue's messages are: "eventbridge" (default,
	// CloudTrail events) or "s3" (notifications of the log files written
	// to TrailBucket, which the function reads).
	Ingest      string `env:"INGEST"`
	TrailBucket string `env:"TRAIL_BUCKET"`
}

// readEnv reads the environment once.
func readEnv(lookup func(string) string) env {
	var e env
	lambdaenv.Read(&e, lookup)
	return e
}

// defaultConfigTTL is how long a fetched SSM parameter is trusted.
const defaultConfigTTL = 60 * time.Second

// settings is the validated configuration.
type settings struct {
	table      string
	topicARN   string
	configName string
	configTTL  time.Duration
	ipRanges   string
	// rangesBucket is empty when no bucket copy is configured.
	rangesBucket string
	rangesKey    string
	rangesTTL    time.Duration
	s3PathStyle  bool
	logLevel     slog.Level
	// protection is what SELF_PROTECTION adds to the built-in protection.
	protection  detectors.Protection
	silentAfter time.Duration
	// trailBucket is set with INGEST=s3: the bucket whose log files the
	// messages announce.
	trailBucket string
}

// defaultSilentHours is SILENT_HOURS when unset.
const defaultSilentHours = 24

func (e env) validate() (settings, error) {
	s := settings{table: e.Table, topicARN: e.TopicARN, configName: e.ConfigName, ipRanges: e.IPRanges, configTTL: defaultConfigTTL}
	if n := len(s.table); n < 3 || n > 255 {
		return s, fmt.Errorf("TABLE_NAME: want a DynamoDB table name (3 to 255 characters), got %q", e.Table)
	}
	if !strings.HasPrefix(s.topicARN, "arn:") {
		return s, fmt.Errorf("TOPIC_ARN: want an SNS topic ARN, got %q", e.TopicARN)
	}
	if e.ConfigTTL != "" {
		d, err := time.ParseDuration(e.ConfigTTL)
		if err != nil || d < 0 {
			return s, fmt.Errorf("CONFIG_TTL: want a duration such as 60s, got %q", e.ConfigTTL)
		}
		s.configTTL = d
	}
	if err := e.validateRanges(&s); err != nil {
		return s, err
	}
	if e.LogLevel != "" {
		if err := s.logLevel.UnmarshalText([]byte(e.LogLevel)); err != nil {
			return s, fmt.Errorf("LOG_LEVEL: %w", err)
		}
	}
	if e.SelfProtection != "" {
		p, err := detectors.ParseProtection(e.SelfProtection)
		if err != nil {
			return s, fmt.Errorf("SELF_PROTECTION: %w", err)
		}
		s.protection = p
	}
	if err := e.validateIngest(&s); err != nil {
		return s, err
	}
	s.silentAfter = defaultSilentHours * time.Hour
	if e.SilentHours != "" {
		h, err := strconv.Atoi(e.SilentHours)
		if err != nil || h < 1 || h > 24 {
			return s, fmt.Errorf("SILENT_HOURS: want 1 to 24 hours, got %q", e.SilentHours)
		}
		s.silentAfter = time.Duration(h) * time.Hour
	}
	return s, nil
}

// validateIngest checks INGEST and TRAIL_BUCKET.
func (e env) validateIngest(s *settings) error {
	switch e.Ingest {
	case "", "eventbridge":
		if e.TrailBucket != "" {
			return fmt.Errorf("TRAIL_BUCKET needs INGEST=s3")
		}
	case "s3":
		if n := len(e.TrailBucket); n < 3 || n > 63 || strings.ContainsAny(e.TrailBucket, "/: ") {
			return fmt.Errorf("TRAIL_BUCKET: want the S3 bucket name of the trail, got %q", e.TrailBucket)
		}
		s.trailBucket = e.TrailBucket
	default:
		return fmt.Errorf("INGEST: want eventbridge or s3, got %q", e.Ingest)
	}
	return nil
}

// validateRanges checks the settings of the bucket copy of AWS's ranges.
func (e env) validateRanges(s *settings) error {
	s.rangesTTL = defaultRangesTTL
	s.s3PathStyle = e.S3Endpoint != ""
	if e.RangesBucket == "" {
		if e.RangesKey != "" || e.RangesTTL != "" {
			return fmt.Errorf("IP_RANGES_KEY and IP_RANGES_TTL need IP_RANGES_BUCKET")
		}
		return nil
	}
	if n := len(e.RangesBucket); n < 3 || n > 63 || strings.ContainsAny(e.RangesBucket, "/: ") {
		return fmt.Errorf("IP_RANGES_BUCKET: want an S3 bucket name, got %q", e.RangesBucket)
	}
	if e.RangesKey == "" || len(e.RangesKey) > 1024 {
		return fmt.Errorf("IP_RANGES_KEY: want the object key of the ranges in IP_RANGES_BUCKET, got %q", e.RangesKey)
	}
	s.rangesBucket, s.rangesKey = e.RangesBucket, e.RangesKey
	if e.RangesTTL != "" {
		d, err := time.ParseDuration(e.RangesTTL)
		if err != nil || d < 0 {
			return fmt.Errorf("IP_RANGES_TTL: want a duration such as 10m, got %q", e.RangesTTL)
		}
		s.rangesTTL = d
	}
	return nil
}

// ssmAPI is the SSM methods the function calls: GetParameter for the
// config parameter, GetParameters for the parts a large config is split
// over.
type ssmAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	GetParameters(ctx context.Context, in *ssm.GetParametersInput, optFns ...func(*ssm.Options)) (*ssm.GetParametersOutput, error)
}

// configSource hands out the detection config: the embedded defaults when
// no parameter is configured, otherwise thresholds.yaml from SSM Parameter
// Store, fetched at most once per TTL. A document too large for one
// parameter is deployed as a manifest naming its parts (configparam.ReadParts); it is
// used only when the parts' digest matches the manifest, else the read
// counts as failed (a deployment in progress) and is retried after a TTL;
// a manifest that cannot be read at all is rejected like a bad config. A new value that does not parse is
// rejected (error log, ConfigReloadFailures metric without dimensions, on
// every refresh while it stays deployed) and the last good config is kept;
// when there is none yet (a cold start on a bad parameter) the embedded
// defaults are used, so detection never stops on a config mistake. It is
// safe for concurrent invokes (AWS_LAMBDA_MAX_CONCURRENCY).
type configSource struct {
	client ssmAPI
	name   string
	ttl    time.Duration
	// protection (SELF_PROTECTION) is added to every config's own.
	protection detectors.Protection
	now        func() time.Time
	log        *slog.Logger
	metrics    *emf.Writer

	mu      sync.Mutex
	cfg     *detectors.Config
	raw     string // the parameter value cfg was parsed from
	bad     string // the last rejected value
	fetched time.Time
}

// Get returns the config to use now. It fails only when the parameter
// cannot be read and no config was ever loaded.
func (c *configSource) Get(ctx context.Context) (*detectors.Config, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.name == "" {
		if c.cfg == nil {
			c.cfg = c.protect(config.Default())
		}
		return c.cfg, nil
	}
	now := c.now()
	if c.cfg != nil && now.Sub(c.fetched) < c.ttl {
		return c.cfg, nil
	}
	out, err := c.client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(c.name), WithDecryption: aws.Bool(true)})
	if err != nil {
		if c.cfg == nil {
			return nil, fmt.Errorf("read config parameter %s: %w", c.name, err)
		}
		// Keep the current config and try again after a TTL.
		c.fetched = now
		c.log.WarnContext(ctx, "config parameter unreadable, keeping the current config", "parameter", c.name, "error", err)
		return c.cfg, nil
	}
	c.fetched = now
	var value string
	if out.Parameter != nil && out.Parameter.Value != nil {
		value = *out.Parameter.Value
	}
	if c.cfg != nil && value == c.raw {
		return c.cfg, nil
	}
	doc, err := configparam.ReadParts(ctx, c.client, value)
	var bad *configparam.ManifestError
	if err != nil && !errors.As(err, &bad) {
		// Transient: parts unreadable or from another version than the
		// manifest (a deployment in progress). Retried after a TTL.
		if c.cfg == nil {
			return nil, fmt.Errorf("read config parameter %s: %w", c.name, err)
		}
		c.log.WarnContext(ctx, "config parts unreadable, keeping the current config", "parameter", c.name, "error", err)
		return c.cfg, nil
	}
	var cfg *detectors.Config
	var warnings []config.Problem
	if err == nil {
		cfg, warnings, err = config.Parse(c.name, doc, now)
	}
	if err != nil {
		_ = c.metrics.Count("ConfigReloadFailures", 1, nil)
		if value != c.bad {
			c.bad = value
			keeping := "the last good config"
			if c.cfg == nil {
				keeping = "the embedded defaults"
			}
			c.log.ErrorContext(ctx, "config rejected, keeping "+keeping, "parameter", c.name, "error", err)
		}
		if c.cfg == nil {
			c.cfg = c.protect(config.Default())
		}
		return c.cfg, nil
	}
	for _, w := range warnings {
		c.log.WarnContext(ctx, "config warning", "parameter", c.name, "problem", w.String())
	}
	if c.cfg != nil {
		c.log.InfoContext(ctx, "config reloaded", "parameter", c.name)
	}
	c.cfg, c.raw, c.bad = c.protect(cfg), value, ""
	return c.cfg, nil
}

// protect sets cfg's protection: the built-in, the config's own and what
// the CDK app passed (both validated before, so compiling cannot fail).
func (c *configSource) protect(cfg *detectors.Config) *detectors.Config {
	set, err := detectors.NewProtectedSet(c.protection.Merge(cfg.SelfProtection))
	if err != nil {
		if c.log != nil {
			c.log.Error("self-protection settings rejected, keeping the config's", "error", err)
		}
		return cfg
	}
	cfg.Protected = set
	return cfg
}
