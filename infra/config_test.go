package infra

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/trailwatch/trailwatch/infra/internal/ingest"
	"github.com/trailwatch/trailwatch/infra/internal/thresholds"
)

func TestConfigFromCLIStrings(t *testing.T) {
	// `cdk -c key=value` passes every value as a string.
	app := awscdk.NewApp(&awscdk.AppProps{AutoSynth: jsii.Bool(false), Context: &map[string]interface{}{
		"batchSize":           "50",
		"logRetentionDays":    "30",
		"emailSubscribers":    `{"CRITICAL": ["ciso@example.com"]}`,
		"opsEmailSubscribers": `["ops@example.com"]`,
		"webhookFormat":       "pagerduty",
		"webhookUrl":          "https://events.pagerduty.com/v2/enqueue",
	}})
	cfg, err := ConfigFromContext(app.Node())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BatchSize != 50 || cfg.LogRetentionDays != 30 || cfg.WebhookFormat != "pagerduty" ||
		len(cfg.EmailSubscribers["CRITICAL"]) != 1 || len(cfg.OpsEmailSubscribers) != 1 || !cfg.NotifyEnabled() {
		t.Errorf("config %+v", cfg)
	}
	if cfg.FunctionsDir != "../build/lambda" || cfg.ThresholdsFile != "../config/thresholds.yaml" || cfg.MaxBatchingWindowSeconds != 5 {
		t.Errorf("defaults not applied: %+v", cfg)
	}
}

func TestConfigValidation(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*Config)
		want   string
	}{
		"format":      {func(c *Config) { c.WebhookFormat = "slack" }, "webhookFormat"},
		"plain http":  {func(c *Config) { c.WebhookURL = "http://example.com" }, "https"},
		"jira no key": {func(c *Config) { c.WebhookFormat = "jira"; c.WebhookURL = "https://x.example.com" }, "jiraProjectKey"},
		"retention":   {func(c *Config) { c.LogRetentionDays = 10 }, "logRetentionDays"},
		"severity":    {func(c *Config) { c.EmailSubscribers = map[string][]string{"URGENT": {"a@example.com"}} }, "unknown severity"},
		"email":       {func(c *Config) { c.EmailSubscribers = map[string][]string{"HIGH": {"nobody"}} }, "not an e-mail"},
		"org":         {func(c *Config) { c.OrganizationID = "123456789012" }, "organizationId"},
		"bus":         {func(c *Config) { c.CentralBusArn = "trailwatch-central" }, "centralBusArn"},
		"batch":       {func(c *Config) { c.BatchSize = 20000 }, "batchSize"},
		"window":      {func(c *Config) { c.MaxBatchingWindowSeconds = 0 }, "maxBatchingWindowSeconds"},
		"log level":   {func(c *Config) { c.LogLevel = "TRACE" }, "logLevel"},
	} {
		cfg := DefaultConfig()
		tc.mutate(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, tc.want)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}
}

func TestMissingFunctionBinaryIsAClearError(t *testing.T) {
	cfg := DefaultConfig()
	cfg.FunctionsDir = t.TempDir()
	app := awscdk.NewApp(&awscdk.AppProps{AutoSynth: jsii.Bool(false)})
	_, err := Build(app, cfg)
	if err == nil || !strings.Contains(err.Error(), "detect/bootstrap is missing") || !strings.Contains(err.Error(), "make build-lambda") {
		t.Errorf("error %v", err)
	}
}

func TestThresholdsFallBackToTheEmbeddedDefault(t *testing.T) {
	content, fromFile, err := thresholds.Load(filepath.Join(t.TempDir(), "absent.yaml"))
	if err != nil || fromFile || content != thresholds.DefaultConfig {
		t.Errorf("missing file: %q %v %v", content, fromFile, err)
	}
	empty := filepath.Join(t.TempDir(), "empty.yaml")
	if err := os.WriteFile(empty, []byte("\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := thresholds.Load(empty); err == nil {
		t.Error("an empty thresholds file was accepted")
	}
	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, []byte("# "+strings.Repeat("x", 9000)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Larger than one parameter holds: deployed split over several
	// (thresholds.Split), not refused.
	if content, _, err := thresholds.Load(big); err != nil || len(content) != 9003 {
		t.Errorf("a thresholds file larger than an SSM parameter: %v", err)
	}
}

// TestForwarderTakesTheBusAsParameter: without centralBusArn the forwarder
// template asks for it, so one template serves a whole StackSet.
func TestForwarderTakesTheBusAsParameter(t *testing.T) {
	app := awscdk.NewApp(&awscdk.AppProps{AutoSynth: jsii.Bool(false), Outdir: jsii.String(t.TempDir())})
	f := NewForwarderStack(app, "F", &ForwarderStackProps{})
	tpl := assertions.Template_FromStack(f.Stack, nil)
	noPanic(t, "parameter", func() {
		tpl.HasParameter(jsii.String("CentralBusArn"), map[string]interface{}{"Type": "String"})
		tpl.HasResourceProperties(jsii.String("AWS::IAM::Policy"), map[string]interface{}{
			"PolicyDocument": map[string]interface{}{"Statement": []interface{}{
				map[string]interface{}{"Action": "events:PutEvents", "Effect": "Allow", "Resource": map[string]interface{}{"Ref": "CentralBusArn"}},
			}},
		})
	})
}

// TestTestEventsRule: with enableTestEvents the central bus also accepts
// source trailwatch.test, with otherwise the production selection.
func TestTestEventsRule(t *testing.T) {
	app := awscdk.NewApp(&awscdk.AppProps{AutoSynth: jsii.Bool(false), Outdir: jsii.String(t.TempDir()), Context: &map[string]interface{}{
		"enableTestEvents": "true",
	}})
	cfg, err := ConfigFromContext(app.Node())
	if err != nil || !cfg.EnableTestEvents {
		t.Fatalf("config %+v %v", cfg, err)
	}
	stack := awscdk.NewStack(app, jsii.String("S"), nil)
	in := ingest.New(stack, "Ingestion", ingest.Props{
		QueueVisibilityTimeout: awscdk.Duration_Minutes(jsii.Number(6)),
		MaxEventAge:            awscdk.Duration_Hours(jsii.Number(1)),
		RetryAttempts:          3,
		TestEvents:             cfg.EnableTestEvents,
	})
	if in.TestEventsRule == nil {
		t.Fatal("no test events rule")
	}
	tpl := assertions.Template_FromStack(stack, nil)
	var want map[string]interface{}
	if err := json.Unmarshal([]byte(wantPattern), &want); err != nil {
		t.Fatal(err)
	}
	want["source"] = []interface{}{"trailwatch.test"}
	noPanic(t, "test events rule", func() {
		tpl.ResourceCountIs(jsii.String("AWS::Events::Rule"), jsii.Number(3))
		tpl.HasResourceProperties(jsii.String("AWS::Events::Rule"), map[string]interface{}{
			"EventPattern": want,
			"EventBusName": assertions.Match_AnyValue(),
		})
	})
}
