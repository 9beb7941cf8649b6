// Package forwarder is the member-account concern: a rule on the account's
// default bus that forwards the Trailwatch selection of CloudTrail events to
// the central bus, through a role that may put events on that bus only, and
// the alarm on its dead-letter queue, whose state changes are forwarded to
// the central bus too (the central stack sends them to its operations
// topic).
package forwarder

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/trailwatch/trailwatch/infra/internal/ingest"
	"github.com/trailwatch/trailwatch/infra/internal/secure"
)

// Props configure New.
type Props struct {
	// CentralBusArn is the ARN of the central trailwatch-central bus (a
	// literal or a CloudFormation parameter reference).
	CentralBusArn string
}

// AlarmName is the name of the forwarder's DLQ alarm in every member
// account and region; the central stack matches its state changes by it.
const AlarmName = "TrailwatchForwarderDLQ"

// Forwarder is the constructed forwarding concern.
type Forwarder struct {
	Rule  awsevents.Rule
	Role  awsiam.Role
	DLQ   awssqs.Queue
	Alarm awscloudwatch.Alarm
	// AlarmRule forwards the alarm's state changes to the central bus.
	AlarmRule awsevents.Rule
}

// New creates the forwarder construct id.
func New(scope constructs.Construct, id string, p Props) *Forwarder {
	c := constructs.NewConstruct(scope, jsii.String(id))
	f := &Forwarder{}
	// EventBridge writes undeliverable events to the encrypted DLQ itself.
	key := secure.NewKey(c, "Key", "Trailwatch forwarder dead-letter queue", secure.ServiceUse{
		Service:    "events.amazonaws.com",
		Actions:    []string{"kms:GenerateDataKey", "kms:Decrypt"},
		Conditions: secure.SourceAccount(c),
	})
	f.DLQ = secure.NewDeadLetterQueue(c, "DLQ", key)

	f.Role = awsiam.NewRole(c, jsii.String("Role"), &awsiam.RoleProps{
		Description: jsii.String("Trailwatch forwarder: EventBridge puts this account's CloudTrail events on the central bus"),
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("events.amazonaws.com"), &awsiam.ServicePrincipalOpts{
			Conditions: &map[string]interface{}{
				"StringEquals": map[string]interface{}{"aws:SourceAccount": awscdk.Stack_Of(c).Account()},
			},
		}),
	})
	bus := awsevents.EventBus_FromEventBusArn(c, jsii.String("CentralBus"), jsii.String(p.CentralBusArn))
	// The EventBus target grants the role events:PutEvents on exactly the
	// central bus ARN.
	f.Rule = awsevents.NewRule(c, jsii.String("Rule"), &awsevents.RuleProps{
		Description:  jsii.String("Trailwatch: forward mutating, console sign-in and access-denied CloudTrail events to the central bus"),
		EventPattern: ingest.EventPattern(),
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewEventBus(bus, &awseventstargets.EventBusProps{
			Role:            f.Role,
			DeadLetterQueue: f.DLQ,
		})},
	})
	// The EventBus target has no retry props; set them on the target.
	cfn := f.Rule.Node().DefaultChild().(awsevents.CfnRule)
	cfn.AddPropertyOverride(jsii.String("Targets.0.RetryPolicy"), map[string]interface{}{
		"MaximumEventAgeInSeconds": 86400,
		"MaximumRetryAttempts":     185,
	})

	f.Alarm = awscloudwatch.NewAlarm(c, jsii.String("DLQMessages"), &awscloudwatch.AlarmProps{
		AlarmName:        jsii.String(AlarmName),
		AlarmDescription: jsii.String("CloudTrail events could not be forwarded to the central Trailwatch bus; they wait in the forwarder DLQ."),
		Metric: f.DLQ.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
			Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Maximum"),
		}),
		Threshold:          jsii.Number(0),
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	// The alarm's state changes travel like the CloudTrail events: the
	// same role, the central bus, the same DLQ and retries. The central
	// stack routes them to its operations topic.
	f.AlarmRule = awsevents.NewRule(c, jsii.String("AlarmRule"), &awsevents.RuleProps{
		Description: jsii.String("Trailwatch: forward the forwarder DLQ alarm's state changes to the central bus"),
		EventPattern: &awsevents.EventPattern{
			Source:     jsii.Strings("aws.cloudwatch"),
			DetailType: jsii.Strings("CloudWatch Alarm State Change"),
			Resources:  jsii.Strings(*f.Alarm.AlarmArn()),
		},
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewEventBus(bus, &awseventstargets.EventBusProps{
			Role:            f.Role,
			DeadLetterQueue: f.DLQ,
		})},
	})
	f.AlarmRule.Node().DefaultChild().(awsevents.CfnRule).AddPropertyOverride(jsii.String("Targets.0.RetryPolicy"), map[string]interface{}{
		"MaximumEventAgeInSeconds": 86400,
		"MaximumRetryAttempts":     185,
	})
	return f
}
