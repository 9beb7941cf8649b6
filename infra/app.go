package infra

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/trailwatch/trailwatch/infra/internal/backfill"
	"github.com/trailwatch/trailwatch/infra/internal/detection"
	"github.com/trailwatch/trailwatch/infra/internal/findings"
	"github.com/trailwatch/trailwatch/infra/internal/forwarder"
	"github.com/trailwatch/trailwatch/infra/internal/ingest"
	"github.com/trailwatch/trailwatch/infra/internal/ipranges"
	"github.com/trailwatch/trailwatch/infra/internal/lambdafn"
	"github.com/trailwatch/trailwatch/infra/internal/operations"
	"github.com/trailwatch/trailwatch/infra/internal/state"
	"github.com/trailwatch/trailwatch/infra/internal/thresholds"
)

// Stack names, as used with `cdk deploy`.
const (
	CentralStackName   = "TrailwatchCentral"
	ForwarderStackName = "TrailwatchForwarder"
)

// Central is the composed central stack.
type Central struct {
	Stack      awscdk.Stack
	Ingestion  *ingest.Ingestion
	State      *state.State
	Findings   *findings.Topic
	Thresholds *thresholds.Thresholds
	Detection  *detection.Detection
	IPRanges   *ipranges.IPRanges
	// Notify is nil when no webhook is configured.
	Notify *findings.Notify
	// SecurityHub is the Security Hub export (context securityHub=true), or nil.
	SecurityHub *findings.SecurityHub
	Operations  *operations.Operations
	// Trail is S3 ingest (context ingest=s3), which replaces Ingestion
	// (then nil); nil by default.
	Trail *ingest.Trail
	// WarmStart is the organization-scale warm start (context
	// warmStart=true), or nil.
	WarmStart *backfill.WarmStart
}

// Forwarder is the composed member-account stack.
type Forwarder struct {
	Stack     awscdk.Stack
	Forwarder *forwarder.Forwarder
}

// Stacks are the stacks of one app.
type Stacks struct {
	Central   *Central
	Forwarder *Forwarder
}

// Build adds both stacks to app and applies the cdk-nag AwsSolutions checks
// to everything in it. It checks the function binaries and the thresholds
// file before creating any construct.
func Build(app awscdk.App, cfg Config) (*Stacks, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	functions := []string{"detect", ipranges.FunctionName}
	if cfg.NotifyEnabled() {
		functions = append(functions, "notify")
	}
	warm, err := backfill.FromContext(app.Node())
	if err != nil {
		return nil, err
	}
	if warm.Enabled {
		functions = append(functions, backfill.FunctionName)
	}
	if err := checkFunctions(cfg.FunctionSource(), functions...); err != nil {
		return nil, err
	}
	content, fromFile, err := thresholds.Load(cfg.ThresholdsFile)
	if err != nil {
		return nil, err
	}
	source := "the embedded default (" + cfg.ThresholdsFile + " not found)"
	if fromFile {
		source = filepath.Base(cfg.ThresholdsFile)
	}

	central := NewCentralStack(app, CentralStackName, &CentralStackProps{
		StackProps: awscdk.StackProps{
			Description: jsii.String("Trailwatch central: CloudTrail anomaly detection for the organization"),
		},
		Config:            cfg,
		ThresholdsContent: content,
		ThresholdsSource:  source,
		WarmStart:         warm,
	})
	fwd := NewForwarderStack(app, ForwarderStackName, &ForwarderStackProps{
		StackProps: awscdk.StackProps{
			Description: jsii.String("Trailwatch forwarder: sends this account's CloudTrail events to the central Trailwatch bus"),
			// No bootstrap-version rule: the template must deploy as a
			// StackSet into accounts that were never bootstrapped.
			Synthesizer: awscdk.NewDefaultStackSynthesizer(&awscdk.DefaultStackSynthesizerProps{
				GenerateBootstrapVersionRule: jsii.Bool(false),
			}),
		},
		CentralBusArn: cfg.CentralBusArn,
	})
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	return &Stacks{Central: central, Forwarder: fwd}, nil
}

// filesBeside are the files a function reads beside its bootstrap.
var filesBeside = map[string][]string{"detect": {ipranges.BundledFile}}

// checkFunctions checks each function's code (a bootstrap in the build
// directory, or a release zip that checksums.txt vouches for).
func checkFunctions(src lambdafn.Source, names ...string) error {
	for _, n := range names {
		if _, err := src.Code(n, filesBeside[n]...); err != nil {
			return err
		}
	}
	return nil
}

// functionCode is the asset path of a function's code, which Build has
// checked before creating any construct.
func functionCode(cfg Config, name string) string {
	p, err := cfg.FunctionSource().Code(name)
	if err != nil {
		panic(err)
	}
	return p
}

// rangesBuild fingerprints the ipranges function's code and the ranges
// bundled with detect, which Build has checked: a new build runs the
// refresher again at deployment.
func rangesBuild(cfg Config) string {
	src := cfg.FunctionSource()
	fn, err := src.Fingerprint(ipranges.FunctionName)
	if err != nil {
		panic(err)
	}
	det, err := src.Fingerprint("detect", ipranges.BundledFile)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256([]byte(fn + "/" + det))
	return hex.EncodeToString(sum[:8])
}

// CentralStackProps configure NewCentralStack.
type CentralStackProps struct {
	awscdk.StackProps
	Config Config
	// ThresholdsContent is the thresholds.yaml text deployed to SSM.
	ThresholdsContent string
	// ThresholdsSource describes where it came from.
	ThresholdsSource string
	// WarmStart configures the organization-scale warm start (off by
	// default).
	WarmStart backfill.Settings
}

// NewCentralStack composes the central stack: ingestion → detection (with
// state and thresholds) → findings (topic, e-mail, notify) → operations.
func NewCentralStack(scope constructs.Construct, id string, props *CentralStackProps) *Central {
	sp := props.StackProps
	stack := awscdk.NewStack(scope, jsii.String(id), &sp)
	awscdk.Tags_Of(stack).Add(jsii.String("project"), jsii.String("trailwatch"), nil)
	cfg := props.Config
	c := &Central{Stack: stack}

	visibility := awscdk.Duration_Seconds(jsii.Number(6 * *detection.Timeout.ToSeconds(nil)))
	var ingestQueue awssqs.Queue
	batchSize := cfg.BatchSize
	if cfg.S3Ingest() {
		c.Trail = ingest.NewTrail(stack, "Trail", ingest.TrailProps{
			BucketName: cfg.TrailBucket, KeyARN: cfg.TrailBucketKey, QueueVisibilityTimeout: visibility,
		})
		ingestQueue, batchSize = c.Trail.Queue, ingest.TrailBatchSize
	} else {
		c.Ingestion = ingest.New(stack, "Ingestion", ingest.Props{
			OrganizationID:         cfg.OrganizationID,
			QueueVisibilityTimeout: visibility,
			MaxEventAge:            awscdk.Duration_Hours(jsii.Number(24)),
			RetryAttempts:          185,
			TestEvents:             cfg.EnableTestEvents,
		})
		ingestQueue = c.Ingestion.Queue
	}
	c.State = state.New(stack, "State")
	c.Findings = findings.NewEncryptedTopic(stack, "Findings", "Trailwatch findings")
	c.Findings.SubscribeEmails(cfg.EmailSubscribers)
	c.Thresholds = thresholds.New(stack, "Thresholds", props.ThresholdsContent, props.ThresholdsSource)
	c.IPRanges = ipranges.New(stack, "IPRanges", ipranges.Props{
		CodeDir:          functionCode(cfg, ipranges.FunctionName),
		Build:            rangesBuild(cfg),
		LogLevel:         cfg.LogLevel,
		LogRetentionDays: cfg.LogRetentionDays,
	})
	c.Detection = detection.New(stack, "Detect", detection.Props{
		CodeDir:             functionCode(cfg, "detect"),
		Queue:               ingestQueue,
		State:               c.State,
		Topic:               c.Findings,
		Thresholds:          c.Thresholds,
		LogLevel:            cfg.LogLevel,
		LogRetentionDays:    cfg.LogRetentionDays,
		BatchSize:           batchSize,
		MaxBatchingWindow:   awscdk.Duration_Seconds(jsii.Number(float64(cfg.MaxBatchingWindowSeconds))),
		ReservedConcurrency: cfg.DetectReservedConcurrency,
		MaxConcurrency:      cfg.DetectMaxConcurrency,
		IPRanges:            c.IPRanges,
		SilentHours:         cfg.SilentHours,
	})

	dlqs := []operations.NamedQueue{{Name: "IPRangesScheduleDLQ", Queue: c.IPRanges.ScheduleDLQ}}
	var centralBus awsevents.IEventBus
	if c.Trail != nil {
		// S3 ingest: detect reads the trail's files (package ingest, Trail).
		dlqs = append([]operations.NamedQueue{{Name: "TrailDLQ", Queue: c.Trail.DLQ}}, dlqs...)
		c.Trail.GrantRead(c.Detection.Function.Role)
		c.Detection.Function.Function.AddEnvironment(jsii.String("INGEST"), jsii.String("s3"), nil)
		c.Detection.Function.Function.AddEnvironment(jsii.String("TRAIL_BUCKET"), jsii.String(cfg.TrailBucket), nil)
	} else {
		dlqs = append([]operations.NamedQueue{
			{Name: "IngestDLQ", Queue: c.Ingestion.QueueDLQ},
			{Name: "IngestTargetDLQ", Queue: c.Ingestion.TargetDLQ},
		}, dlqs...)
		centralBus = c.Ingestion.Bus
	}
	fns := []operations.NamedFunction{
		{Name: "Detect", Function: c.Detection.Function.Function},
		{Name: "IPRanges", Function: c.IPRanges.Function.Function},
	}
	if cfg.NotifyEnabled() {
		c.Notify = findings.NewNotify(stack, "Notify", findings.NotifyProps{
			CodeDir:          functionCode(cfg, "notify"),
			Topic:            c.Findings,
			WebhookFormat:    cfg.WebhookFormat,
			WebhookURL:       cfg.WebhookURL,
			JiraProjectKey:   cfg.JiraProjectKey,
			JiraIssueType:    cfg.JiraIssueType,
			LogLevel:         cfg.LogLevel,
			LogRetentionDays: cfg.LogRetentionDays,
		})
		dlqs = append(dlqs,
			operations.NamedQueue{Name: "NotifyDLQ", Queue: c.Notify.QueueDLQ},
			operations.NamedQueue{Name: "NotifySubscriptionDLQ", Queue: c.Notify.SubscriptionDLQ})
		fns = append(fns, operations.NamedFunction{Name: "Notify", Function: c.Notify.Function.Function})
	} else {
		awscdk.Annotations_Of(stack).AddInfo(jsii.String("No webhookUrl in context: the notify queue and function are not deployed; findings go to SNS subscribers only."))
	}
	if cfg.SecurityHub {
		c.SecurityHub = findings.NewSecurityHub(stack, "SecurityHub", findings.SecurityHubProps{
			CodeDir:          functionCode(cfg, "notify"),
			Topic:            c.Findings,
			LogLevel:         cfg.LogLevel,
			LogRetentionDays: cfg.LogRetentionDays,
		})
		dlqs = append(dlqs,
			operations.NamedQueue{Name: "SecurityHubDLQ", Queue: c.SecurityHub.QueueDLQ},
			operations.NamedQueue{Name: "SecurityHubSubscriptionDLQ", Queue: c.SecurityHub.SubscriptionDLQ})
		fns = append(fns, operations.NamedFunction{Name: "SecurityHub", Function: c.SecurityHub.Function.Function})
	}
	if cfg.OrganizationID == "" && c.Ingestion != nil {
		awscdk.Annotations_Of(c.Ingestion.Bus).AddInfo(jsii.String("No organizationId in context: only this account can put events on the central bus."))
	}

	if props.WarmStart.Enabled {
		c.WarmStart = backfill.New(stack, "WarmStart", backfill.Props{
			Settings:         props.WarmStart,
			CodeDir:          functionCode(cfg, backfill.FunctionName),
			State:            c.State,
			Thresholds:       c.Thresholds,
			IPRanges:         c.IPRanges,
			LogLevel:         cfg.LogLevel,
			LogRetentionDays: cfg.LogRetentionDays,
		})
	}

	c.Operations = operations.New(stack, "Operations", operations.Props{
		DLQs:               dlqs,
		Functions:          fns,
		IngestQueue:        ingestQueue,
		IngestAgeThreshold: awscdk.Duration_Seconds(jsii.Number(float64(cfg.IngestAgeAlarmSeconds))),
		Emails:             cfg.OpsEmailSubscribers,
		SilentHours:        cfg.SilentHours,
		CentralBus:         centralBus,
		ForwarderAlarmName: forwarder.AlarmName,
	})
	// Self-protection: the detect function learns the deployed names of
	// every resource above (README "Self-protection").
	c.Detection.Protect(protectedResources(stack, c.Detection.Function.Function.Node().DefaultChild()))

	out := func(id, value, desc string) {
		awscdk.NewCfnOutput(stack, jsii.String(id), &awscdk.CfnOutputProps{Value: jsii.String(value), Description: jsii.String(desc)})
	}
	if c.Ingestion != nil {
		out("CentralBusArn", *c.Ingestion.Bus.EventBusArn(), "Pass to the forwarders: -c centralBusArn=… or the StackSet parameter CentralBusArn")
	} else {
		out("TrailQueueArn", *c.Trail.Queue.QueueArn(), "Queue of the trail bucket's object-created notifications (S3 ingest)")
	}
	out("FindingsTopicArn", *c.Findings.Topic.TopicArn(), "Findings (message attributes severity, detector, account)")
	out("OperationsTopicArn", *c.Operations.Topic.Topic.TopicArn(), "Operations alarms")
	out("BaselinesTableName", *c.State.Table.TableName(), "Baselines and dedupe state")
	out("ThresholdsParameterName", *c.Thresholds.Parameter.ParameterName(), "Deployed thresholds.yaml")
	out("DetectLogGroupName", *c.Detection.Function.LogGroup.LogGroupName(), "aws logs tail … --follow")
	out("DashboardName", *c.Operations.Dashboard.DashboardName(), "CloudWatch dashboard of the Trailwatch metrics")
	if c.WarmStart != nil {
		out("WarmStartStateMachineArn", *c.WarmStart.StateMachine.StateMachineArn(), "aws stepfunctions start-execution --state-machine-arn … (README: warm start at organization scale)")
	}
	if c.Notify != nil {
		out("NotifyLogGroupName", *c.Notify.Function.LogGroup.LogGroupName(), "aws logs tail … --follow")
		out("WebhookSecretArn", *c.Notify.Secret.SecretArn(), "Webhook signing secret or API token (value never in an environment variable)")
	}
	return c
}

// ForwarderStackProps configure NewForwarderStack.
type ForwarderStackProps struct {
	awscdk.StackProps
	// CentralBusArn of the central bus; empty makes it the template
	// parameter CentralBusArn.
	CentralBusArn string
}

// NewForwarderStack composes the member-account stack.
func NewForwarderStack(scope constructs.Construct, id string, props *ForwarderStackProps) *Forwarder {
	sp := props.StackProps
	stack := awscdk.NewStack(scope, jsii.String(id), &sp)
	awscdk.Tags_Of(stack).Add(jsii.String("project"), jsii.String("trailwatch"), nil)
	arn := props.CentralBusArn
	if arn == "" {
		p := awscdk.NewCfnParameter(stack, jsii.String("CentralBusArn"), &awscdk.CfnParameterProps{
			Type:                  jsii.String("String"),
			Description:           jsii.String("ARN of the central Trailwatch event bus (output CentralBusArn of TrailwatchCentral)"),
			AllowedPattern:        jsii.String(`^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/[A-Za-z0-9._\-/]+$`),
			ConstraintDescription: jsii.String("an EventBridge event bus ARN"),
		})
		arn = *p.ValueAsString()
	}
	f := forwarder.New(stack, "Forwarder", forwarder.Props{CentralBusArn: arn})
	return &Forwarder{Stack: stack, Forwarder: f}
}
