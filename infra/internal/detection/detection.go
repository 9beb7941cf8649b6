// Package detection is the detection concern: the detect function consuming
// the ingest queue in batches, with exactly the grants its code needs.
package detection

import (
	"encoding/json"
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/trailwatch/trailwatch/infra/internal/findings"
	"github.com/trailwatch/trailwatch/infra/internal/ipranges"
	"github.com/trailwatch/trailwatch/infra/internal/lambdafn"
	"github.com/trailwatch/trailwatch/infra/internal/state"
	"github.com/trailwatch/trailwatch/infra/internal/thresholds"
)

// Timeout of one detect invocation; the ingest queue's visibility timeout
// is six times this, as Lambda recommends for SQS sources.
var Timeout = awscdk.Duration_Seconds(jsii.Number(60))

// Props configure New.
type Props struct {
	CodeDir    string
	Queue      awssqs.IQueue
	State      *state.State
	Topic      *findings.Topic
	Thresholds *thresholds.Thresholds
	LogLevel   string
	// SilentHours is SILENT_HOURS: how long an account and region that has
	// sent events may stay silent before it counts as silent.
	SilentHours         int
	LogRetentionDays    int
	BatchSize           int
	MaxBatchingWindow   awscdk.Duration
	ReservedConcurrency int
	// MaxConcurrency caps the concurrent invocations the queue drives
	// (minimum 2), without reserving account concurrency.
	MaxConcurrency int
	// IPRanges supplies AWS's address ranges: the bundled file and the
	// bucket copy the function refreshes from.
	IPRanges *ipranges.IPRanges
}

// Detection is the constructed detection concern.
type Detection struct {
	Function lambdafn.Function
}

// New creates the detection construct id.
func New(scope constructs.Construct, id string, p Props) *Detection {
	environment := map[string]string{
		"TABLE_NAME":       *p.State.Table.TableName(),
		"TOPIC_ARN":        *p.Topic.Topic.TopicArn(),
		"CONFIG_PARAMETER": *p.Thresholds.Parameter.ParameterName(),
		"LOG_LEVEL":        p.LogLevel,
		"SILENT_HOURS":     strconv.Itoa(p.SilentHours),
	}
	for k, v := range p.IPRanges.DetectEnvironment() {
		environment[k] = v
	}
	fn := lambdafn.New(scope, id, lambdafn.Props{
		Description:         "Trailwatch detect: scores CloudTrail events against per-principal baselines",
		CodeDir:             p.CodeDir,
		Environment:         environment,
		LogRetentionDays:    p.LogRetentionDays,
		Timeout:             Timeout,
		MemoryMB:            512,
		ReservedConcurrency: p.ReservedConcurrency,
	})
	var grantee awsiam.IGrantable = fn.Role
	p.State.GrantDetect(grantee)
	p.Topic.GrantPublish(grantee)
	p.Thresholds.GrantRead(grantee)
	p.IPRanges.GrantRead(grantee)

	src := &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(float64(p.BatchSize)),
		MaxBatchingWindow:       p.MaxBatchingWindow,
		ReportBatchItemFailures: jsii.Bool(true),
	}
	if p.MaxConcurrency >= 2 {
		src.MaxConcurrency = jsii.Number(float64(p.MaxConcurrency))
	}
	// Grants sqs:ReceiveMessage/DeleteMessage/ChangeMessageVisibility/
	// GetQueueAttributes/GetQueueUrl on this queue and kms:Decrypt on its key.
	fn.Function.AddEventSource(awslambdaeventsources.NewSqsEventSource(p.Queue, src))
	return &Detection{Function: fn}
}

// SelfProtectionVariable is the detect function's environment variable
// holding what the self-protection rule guards beyond its built-in names
// (detectors.Protection as JSON).
const SelfProtectionVariable = "SELF_PROTECTION"

// Protect passes the detect function the identifiers of Trailwatch's own
// resources ("KIND/NAME", names usually deploy-time tokens) as
// SELF_PROTECTION. Call it once, after every resource is created.
func (d *Detection) Protect(resources []string) {
	b, err := json.Marshal(struct {
		Resources []string `json:"resources"`
	}{resources})
	if err != nil {
		panic(err) // strings always encode
	}
	d.Function.Function.AddEnvironment(jsii.String(SelfProtectionVariable), jsii.String(string(b)), nil)
}
