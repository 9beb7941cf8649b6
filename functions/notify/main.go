// Command notify is the Lambda function that reads findings from the SQS
// queue subscribed to the Trailwatch SNS topic and opens tickets through a
// webhook (generic signed JSON, Jira, PagerDuty or OCSF), or, with
// NOTIFY_SINK=securityhub, imports them into AWS Security Hub (ASFF,
// securityhub:BatchImportFindings).
//
// Environment:
//
//	NOTIFY_SINK          webhook | securityhub (default webhook)
//	SECURITYHUB_PRODUCT_ARN securityhub: the default product ARN of the
//	                     importing account, arn:aws:securityhub:<region>:<account>:product/<account>/default
//	WEBHOOK_FORMAT       generic | jira | pagerduty | ocsf (default generic)
//	WEBHOOK_URL          https URL of the receiver (for jira the site, e.g.
//	                     https://example.atlassian.net, or its /rest/api/3/issue URL);
//	                     only its scheme and host are ever logged
//	WEBHOOK_SECRET_ARN   Secrets Manager secret with the format's credentials
//	WEBHOOK_ALLOW_HTTP   "true" allows an http URL (local tests only)
//	WEBHOOK_MAX_ATTEMPTS attempts per finding and invocation (default 5)
//	WEBHOOK_BASE_DELAY   first backoff ceiling, a Go duration (default 200ms)
//	WEBHOOK_MAX_DELAY    backoff and Retry-After cap (default 20s)
//	JIRA_PROJECT_KEY     jira: project key
//	JIRA_ISSUE_TYPE      jira: issue type name (default Task)
//	LOG_LEVEL            DEBUG | INFO | WARN | ERROR (default INFO)
//
// AWS_ENDPOINT_URL_SECRETS_MANAGER, honoured by the AWS SDK, points Secrets
// Manager at a local server in tests.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"

	"github.com/trailwatch/trailwatch/internal/lambdaenv"
	"github.com/trailwatch/trailwatch/notify"
	"github.com/trailwatch/trailwatch/render"
)

// env is the raw environment, read once.
type env struct {
	Format      string `env:"WEBHOOK_FORMAT"`
	URL         string `env:"WEBHOOK_URL"`
	SecretARN   string `env:"WEBHOOK_SECRET_ARN"`
	AllowHTTP   string `env:"WEBHOOK_ALLOW_HTTP"`
	MaxAttempts string `env:"WEBHOOK_MAX_ATTEMPTS"`
	BaseDelay   string `env:"WEBHOOK_BASE_DELAY"`
	MaxDelay    string `env:"WEBHOOK_MAX_DELAY"`
	JiraProject string `env:"JIRA_PROJECT_KEY"`
	JiraType    string `env:"JIRA_ISSUE_TYPE"`
	LogLevel    string `env:"LOG_LEVEL"`
	Sink        string `env:"NOTIFY_SINK"`
	ProductARN  string `env:"SECURITYHUB_PRODUCT_ARN"`
}

// readEnv reads the environment once.
func readEnv(lookup func(string) string) env {
	var e env
	lambdaenv.Read(&e, lookup)
	return e
}

// settings is the validated configuration.
type settings struct {
	format      notify.Format
	url         string
	secretARN   string
	allowHTTP   bool
	maxAttempts int
	baseDelay   time.Duration
	maxDelay    time.Duration
	jiraProject string
	jiraType    string
	logLevel    slog.Level
	// securityHub is set when the sink is Security Hub (format asff).
	securityHub *render.ASFFTarget
}

func (e env) validate() (settings, error) {
	s := settings{url: e.URL, secretARN: e.SecretARN, allowHTTP: e.AllowHTTP == "true", jiraProject: e.JiraProject, jiraType: e.JiraType}
	var err error
	if e.LogLevel != "" {
		if err := s.logLevel.UnmarshalText([]byte(e.LogLevel)); err != nil {
			return s, fmt.Errorf("LOG_LEVEL: %w", err)
		}
	}
	switch e.Sink {
	case "", "webhook":
	case "securityhub":
		t, err := notify.ParseProductArn(e.ProductARN)
		if err != nil {
			return s, fmt.Errorf("SECURITYHUB_PRODUCT_ARN: %w", err)
		}
		s.format, s.securityHub = notify.FormatASFF, &t
		return s, nil
	default:
		return s, fmt.Errorf("NOTIFY_SINK: want webhook or securityhub, got %q", e.Sink)
	}
	format := e.Format
	if format == "" {
		format = string(notify.FormatGeneric)
	}
	if s.format, err = notify.ParseFormat(format); err != nil {
		return s, fmt.Errorf("WEBHOOK_FORMAT: %w", err)
	}
	if s.url == "" {
		return s, fmt.Errorf("WEBHOOK_URL is required")
	}
	if s.secretARN == "" {
		return s, fmt.Errorf("WEBHOOK_SECRET_ARN is required")
	}
	if e.MaxAttempts != "" {
		if s.maxAttempts, err = strconv.Atoi(e.MaxAttempts); err != nil || s.maxAttempts < 1 {
			return s, fmt.Errorf("WEBHOOK_MAX_ATTEMPTS: want a positive integer, got %q", e.MaxAttempts)
		}
	}
	for _, d := range []struct {
		name, v string
		dst     *time.Duration
	}{{"WEBHOOK_BASE_DELAY", e.BaseDelay, &s.baseDelay}, {"WEBHOOK_MAX_DELAY", e.MaxDelay, &s.maxDelay}} {
		if d.v == "" {
			continue
		}
		if *d.dst, err = time.ParseDuration(d.v); err != nil || *d.dst <= 0 {
			return s, fmt.Errorf("%s: want a positive duration such as 500ms, got %q", d.name, d.v)
		}
	}
	return s, nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "notify:", err)
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

	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load AWS config: %w", err)
	}
	var h *handler
	if s.securityHub != nil {
		h = newSecurityHubHandler(s, securityhub.NewFromConfig(awsCfg), log, os.Stdout)
	} else if h, err = newHandler(s, secretsmanager.NewFromConfig(awsCfg), log, os.Stdout); err != nil {
		return err
	}
	lambda.Start(h.Handle)
	return nil
}

// newHandler builds the webhook and the handler from the validated
// settings and logs the configuration (of the URL only scheme and host).
func newHandler(s settings, sm notify.SecretsManagerAPI, log *slog.Logger, metrics io.Writer) (*handler, error) {
	wh, err := notify.NewWebhook(notify.Webhook{
		Format:         s.format,
		URL:            s.url,
		AllowHTTP:      s.allowHTTP,
		Client:         &http.Client{Timeout: notify.DefaultHTTPTimeout},
		Secret:         notify.NewSecretSource(sm, s.secretARN),
		JiraProjectKey: s.jiraProject,
		JiraIssueType:  s.jiraType,
		MaxAttempts:    s.maxAttempts,
		BaseDelay:      s.baseDelay,
		MaxDelay:       s.maxDelay,
	})
	if err != nil {
		return nil, err
	}
	h := &handler{
		webhook:  wh,
		format:   s.format,
		log:      log,
		metrics:  &notify.Metrics{W: metrics},
		reserve:  defaultReserve,
		minStart: defaultMinStart,
	}
	log.Info("notify starting", "webhook", wh, "reserve", h.reserve, "min_start", h.minStart)
	return h, nil
}

// newSecurityHubHandler builds the handler that imports findings into
// Security Hub.
func newSecurityHubHandler(s settings, client notify.SecurityHubImportAPI, log *slog.Logger, metrics io.Writer) *handler {
	h := &handler{
		webhook:  &notify.SecurityHub{Client: client, Target: *s.securityHub},
		format:   notify.FormatASFF,
		log:      log,
		metrics:  &notify.Metrics{W: metrics},
		reserve:  defaultReserve,
		minStart: defaultMinStart,
	}
	log.Info("notify starting", "sink", "securityhub", "product_arn", s.securityHub.ProductArn(), "reserve", h.reserve, "min_start", h.minStart)
	return h
}
