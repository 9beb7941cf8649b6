package infra

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/trailwatch/trailwatch/infra/internal/findings"
	"github.com/trailwatch/trailwatch/infra/internal/lambdafn"
)

// Config is every deploy-time parameter of the app. Each field is read from
// the cdk.json context key named in its tag (override with
// `cdk ... -c key=value`); see infra/README.md.
type Config struct {
	// OrganizationID (o-…) may put events on the central bus. Empty: only
	// the central account itself.
	OrganizationID string `context:"organizationId"`
	// WebhookFormat is generic, jira, pagerduty or ocsf.
	WebhookFormat string `context:"webhookFormat"`
	// WebhookURL (https) receives tickets. Empty: no notify pipeline is
	// deployed and findings go to SNS subscribers only.
	WebhookURL     string `context:"webhookUrl"`
	JiraProjectKey string `context:"jiraProjectKey"`
	JiraIssueType  string `context:"jiraIssueType"`
	// EmailSubscribers maps a minimum severity to e-mail addresses, e.g.
	// {"HIGH": ["sec@example.com"]} sends HIGH and CRITICAL findings.
	EmailSubscribers map[string][]string `context:"emailSubscribers"`
	// OpsEmailSubscribers receive every operations alarm.
	OpsEmailSubscribers []string `context:"opsEmailSubscribers"`
	// LogRetentionDays of the functions' log groups.
	LogRetentionDays int `context:"logRetentionDays"`
	// LogLevel of the functions: DEBUG, INFO, WARN or ERROR.
	LogLevel string `context:"logLevel"`
	// BatchSize is the largest batch of ingest messages per detect call.
	BatchSize int `context:"batchSize"`
	// MaxBatchingWindowSeconds is how long the queue gathers a batch.
	MaxBatchingWindowSeconds int `context:"maxBatchingWindowSeconds"`
	// DetectReservedConcurrency reserves concurrency for detect; 0: none.
	DetectReservedConcurrency int `context:"detectReservedConcurrency"`
	// DetectMaxConcurrency caps the concurrent detect invocations the queue
	// drives (2–1000; 0: no cap).
	DetectMaxConcurrency int `context:"detectMaxConcurrency"`
	// IngestAgeAlarmSeconds is the age of the oldest queued event that alarms.
	IngestAgeAlarmSeconds int `context:"ingestAgeAlarmSeconds"`
	// ThresholdsFile is read at synth time into the SSM parameter; relative
	// to infra/. A missing file deploys an embedded default.
	ThresholdsFile string `context:"thresholdsFile"`
	// FunctionsDir holds detect/bootstrap and notify/bootstrap (linux/arm64).
	FunctionsDir string `context:"functionsDir"`
	// ReleaseDir, when set, holds a release's function zips
	// (trailwatch-<function>_<version>_lambda_arm64.zip) and its
	// checksums.txt: the functions deploy from those zips, verified, instead
	// of from FunctionsDir.
	ReleaseDir string `context:"releaseDir"`
	// CentralBusArn is the central bus the forwarder targets. Empty: the
	// forwarder template takes it as the CloudFormation parameter
	// CentralBusArn (convenient for StackSets).
	CentralBusArn string `context:"centralBusArn"`
	// EnableTestEvents adds a rule on the central bus for synthetic events
	// with source trailwatch.test, so `aws events put-events` can exercise
	// the pipeline end to end. Off by default.
	EnableTestEvents bool `context:"enableTestEvents"`
	// SecurityHub adds the Security Hub export: every finding imported in
	// ASFF into this account's Security Hub (which must be enabled), the
	// same Security Hub finding updated on escalation and recurrence. Off
	// by default.
	SecurityHub bool `context:"securityHub"`
	// SilentHours (1–24) is how long an account and region that has sent
	// CloudTrail events may stay silent before the operations alarm
	// SilentSources fires; no event at all for that long fires
	// NoHeartbeatChecks.
	SilentHours int `context:"silentHours"`
	// Ingest is how CloudTrail reaches detect: "eventbridge" (default:
	// rules on the default and central buses) or "s3" (the trail bucket's
	// object-created notifications; detect reads each log file).
	Ingest string `context:"ingest"`
	// TrailBucket is the trail's bucket, in this account (ingest=s3).
	TrailBucket string `context:"trailBucket"`
	// TrailBucketKey is the ARN of the KMS key the trail encrypts its
	// files with, if it uses SSE-KMS (ingest=s3).
	TrailBucketKey string `context:"trailBucketKey"`
}

// DefaultConfig returns the configuration used for keys absent from context.
func DefaultConfig() Config {
	return Config{
		WebhookFormat:            "generic",
		JiraIssueType:            "Task",
		LogRetentionDays:         90,
		LogLevel:                 "INFO",
		BatchSize:                100,
		MaxBatchingWindowSeconds: 5,
		DetectMaxConcurrency:     10,
		IngestAgeAlarmSeconds:    900,
		ThresholdsFile:           "../config/thresholds.yaml",
		FunctionsDir:             "../build/lambda",
		SilentHours:              24,
		Ingest:                   "eventbridge",
	}
}

// ConfigFromContext reads Config from the construct tree's context, on top of
// DefaultConfig. Values from cdk.json arrive typed; values from `-c` arrive as
// strings (JSON for maps and lists); both are accepted.
func ConfigFromContext(node constructs.Node) (Config, error) {
	cfg := DefaultConfig()
	get := func(key string) (interface{}, bool) {
		v := node.TryGetContext(jsii.String(key))
		if v == nil {
			return nil, false
		}
		return v, true
	}
	var errs []string
	str := func(key string, dst *string) {
		if v, ok := get(key); ok {
			switch t := v.(type) {
			case string:
				*dst = strings.TrimSpace(t)
			default:
				errs = append(errs, fmt.Sprintf("%s: want a string, got %v", key, v))
			}
		}
	}
	num := func(key string, dst *int) {
		if v, ok := get(key); ok {
			switch t := v.(type) {
			case float64:
				*dst = int(t)
			case string:
				n, err := strconv.Atoi(strings.TrimSpace(t))
				if err != nil {
					errs = append(errs, fmt.Sprintf("%s: want an integer, got %q", key, t))
					return
				}
				*dst = n
			default:
				errs = append(errs, fmt.Sprintf("%s: want an integer, got %v", key, v))
			}
		}
	}
	boolean := func(key string, dst *bool) {
		if v, ok := get(key); ok {
			switch t := v.(type) {
			case bool:
				*dst = t
			case string:
				b, err := strconv.ParseBool(strings.TrimSpace(t))
				if err != nil {
					errs = append(errs, fmt.Sprintf("%s: want true or false, got %q", key, t))
					return
				}
				*dst = b
			default:
				errs = append(errs, fmt.Sprintf("%s: want true or false, got %v", key, v))
			}
		}
	}
	// asJSON re-encodes a typed context value (or decodes a -c string).
	asJSON := func(key string, dst interface{}) {
		v, ok := get(key)
		if !ok {
			return
		}
		var b []byte
		if s, isStr := v.(string); isStr {
			if strings.TrimSpace(s) == "" {
				return
			}
			b = []byte(s)
		} else {
			var err error
			if b, err = json.Marshal(v); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", key, err))
				return
			}
		}
		if err := json.Unmarshal(b, dst); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", key, err))
		}
	}
	str("organizationId", &cfg.OrganizationID)
	str("webhookFormat", &cfg.WebhookFormat)
	str("webhookUrl", &cfg.WebhookURL)
	str("jiraProjectKey", &cfg.JiraProjectKey)
	str("jiraIssueType", &cfg.JiraIssueType)
	asJSON("emailSubscribers", &cfg.EmailSubscribers)
	asJSON("opsEmailSubscribers", &cfg.OpsEmailSubscribers)
	num("logRetentionDays", &cfg.LogRetentionDays)
	str("logLevel", &cfg.LogLevel)
	num("batchSize", &cfg.BatchSize)
	num("maxBatchingWindowSeconds", &cfg.MaxBatchingWindowSeconds)
	num("detectReservedConcurrency", &cfg.DetectReservedConcurrency)
	num("detectMaxConcurrency", &cfg.DetectMaxConcurrency)
	num("ingestAgeAlarmSeconds", &cfg.IngestAgeAlarmSeconds)
	str("thresholdsFile", &cfg.ThresholdsFile)
	str("functionsDir", &cfg.FunctionsDir)
	str("releaseDir", &cfg.ReleaseDir)
	str("centralBusArn", &cfg.CentralBusArn)
	boolean("enableTestEvents", &cfg.EnableTestEvents)
	boolean("securityHub", &cfg.SecurityHub)
	num("silentHours", &cfg.SilentHours)
	str("ingest", &cfg.Ingest)
	str("trailBucket", &cfg.TrailBucket)
	str("trailBucketKey", &cfg.TrailBucketKey)
	if len(errs) > 0 {
		return cfg, fmt.Errorf("cdk context: %s", strings.Join(errs, "; "))
	}
	return cfg, cfg.Validate()
}

var (
	orgIDPattern  = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)
	busARNPattern = regexp.MustCompile(`^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/[A-Za-z0-9._\-/]+$`)
	emailPattern  = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
)

// Validate reports every invalid value at once.
func (c Config) Validate() error {
	var errs []string
	bad := func(format string, a ...interface{}) { errs = append(errs, fmt.Sprintf(format, a...)) }
	if c.OrganizationID != "" && !orgIDPattern.MatchString(c.OrganizationID) {
		bad("organizationId %q is not an organization ID (o-…)", c.OrganizationID)
	}
	if c.SilentHours < 1 || c.SilentHours > 24 {
		bad("silentHours %d: want 1 to 24 (hours)", c.SilentHours)
	}
	switch c.WebhookFormat {
	case "generic", "jira", "pagerduty", "ocsf":
	default:
		bad("webhookFormat %q: want generic, jira, pagerduty or ocsf", c.WebhookFormat)
	}
	if c.WebhookURL != "" {
		u, err := url.Parse(c.WebhookURL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			bad("webhookUrl %q: want an https:// URL", c.WebhookURL)
		}
		if c.WebhookFormat == "jira" && c.JiraProjectKey == "" {
			bad("webhookFormat jira needs jiraProjectKey")
		}
	}
	for sev, emails := range c.EmailSubscribers {
		if findings.AtOrAbove(sev) == nil {
			bad("emailSubscribers: unknown severity %q (want one of %v)", sev, findings.Severities)
		}
		for _, e := range emails {
			if !emailPattern.MatchString(e) {
				bad("emailSubscribers[%s]: %q is not an e-mail address", sev, e)
			}
		}
	}
	for _, e := range c.OpsEmailSubscribers {
		if !emailPattern.MatchString(e) {
			bad("opsEmailSubscribers: %q is not an e-mail address", e)
		}
	}
	if _, err := lambdafn.RetentionDays(c.LogRetentionDays); err != nil {
		bad("logRetentionDays: %v", err)
	}
	switch c.LogLevel {
	case "DEBUG", "INFO", "WARN", "ERROR":
	default:
		bad("logLevel %q: want DEBUG, INFO, WARN or ERROR", c.LogLevel)
	}
	if c.BatchSize < 1 || c.BatchSize > 10000 {
		bad("batchSize %d: want 1–10000", c.BatchSize)
	}
	if c.MaxBatchingWindowSeconds < 0 || c.MaxBatchingWindowSeconds > 300 {
		bad("maxBatchingWindowSeconds %d: want 0–300", c.MaxBatchingWindowSeconds)
	}
	if c.BatchSize > 10 && c.MaxBatchingWindowSeconds == 0 {
		bad("batchSize %d above 10 needs maxBatchingWindowSeconds > 0 (an SQS rule)", c.BatchSize)
	}
	if c.DetectReservedConcurrency < 0 {
		bad("detectReservedConcurrency %d: want 0 (none) or more", c.DetectReservedConcurrency)
	}
	if c.DetectMaxConcurrency != 0 && (c.DetectMaxConcurrency < 2 || c.DetectMaxConcurrency > 1000) {
		bad("detectMaxConcurrency %d: want 0 (no cap) or 2–1000", c.DetectMaxConcurrency)
	}
	if c.IngestAgeAlarmSeconds < 60 {
		bad("ingestAgeAlarmSeconds %d: want at least 60", c.IngestAgeAlarmSeconds)
	}
	if c.ThresholdsFile == "" {
		bad("thresholdsFile is empty")
	}
	if c.FunctionsDir == "" {
		bad("functionsDir is empty")
	}
	if c.CentralBusArn != "" && !busARNPattern.MatchString(c.CentralBusArn) {
		bad("centralBusArn %q is not an EventBridge event bus ARN", c.CentralBusArn)
	}
	switch c.Ingest {
	case "eventbridge":
		if c.TrailBucket != "" || c.TrailBucketKey != "" {
			bad("trailBucket and trailBucketKey need ingest=s3")
		}
	case "s3":
		if !bucketPattern.MatchString(c.TrailBucket) {
			bad("ingest=s3 needs trailBucket, the trail's S3 bucket name (got %q)", c.TrailBucket)
		}
		if c.TrailBucketKey != "" && !keyARNPattern.MatchString(c.TrailBucketKey) {
			bad("trailBucketKey %q is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)", c.TrailBucketKey)
		}
	default:
		bad("ingest %q: want eventbridge or s3", c.Ingest)
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid configuration: %s", strings.Join(errs, "; "))
	}
	return nil
}

// FunctionSource is where the functions' code comes from: the release
// zips of ReleaseDir when set, else the build directory FunctionsDir.
func (c Config) FunctionSource() lambdafn.Source {
	return lambdafn.Source{FunctionsDir: c.FunctionsDir, ReleaseDir: c.ReleaseDir}
}

// S3Ingest reports whether detect reads the trail's log files (ingest=s3)
// instead of receiving events from EventBridge.
func (c Config) S3Ingest() bool { return c.Ingest == "s3" }

var (
	bucketPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	keyARNPattern = regexp.MustCompile(`^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$`)
)

// NotifyEnabled reports whether the notify pipeline (queue, function,
// secret) is deployed: only when there is a webhook to deliver to.
func (c Config) NotifyEnabled() bool { return c.WebhookURL != "" }
