package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/trailwatch/trailwatch/config"
	"github.com/trailwatch/trailwatch/detectors"
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
}

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
	return s, nil
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

// ssmAPI is the one SSM method the function calls.
type ssmAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// configSource hands out the detection config: the embedded defaults when
// no parameter is configured, otherwise thresholds.yaml from SSM Parameter
// Store, fetched at most once per TTL. A new value that does not parse is
// rejected (error log, ConfigReloadFailures metric without dimensions, on
// every refresh while it stays deployed) and the last good config is kept;
// when there is none yet (a cold start on a bad parameter) the embedded
// defaults are used, so detection never stops on a config mistake. It is
// safe for concurrent invokes (AWS_LAMBDA_MAX_CONCURRENCY).
type configSource struct {
	client  ssmAPI
	name    string
	ttl     time.Duration
	now     func() time.Time
	log     *slog.Logger
	metrics *emf.Writer

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
			c.cfg = config.Default()
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
	cfg, warnings, err := config.Parse(c.name, []byte(value), now)
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
			c.cfg = config.Default()
		}
		return c.cfg, nil
	}
	for _, w := range warnings {
		c.log.WarnContext(ctx, "config warning", "parameter", c.name, "problem", w.String())
	}
	if c.cfg != nil {
		c.log.InfoContext(ctx, "config reloaded", "parameter", c.name)
	}
	c.cfg, c.raw, c.bad = cfg, value, ""
	return c.cfg, nil
}
