// Package operations is the operations concern: the encrypted operations
// topic, the CloudWatch alarms that publish to it, and the dashboard of the
// functions' embedded-metric-format (EMF) metrics.
package operations

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/trailwatch/trailwatch/infra/internal/findings"
	"github.com/trailwatch/trailwatch/infra/internal/secure"
)

// Namespace of the functions' EMF metrics.
const Namespace = "Trailwatch"

// EMF metric names the functions emit (a contract with functions/).
const (
	MetricEventsProcessed      = "EventsProcessed"
	MetricEventsSkipped        = "EventsSkipped"
	MetricFindings             = "Findings" // dimensions Detector, Severity
	MetricWebhookLatency       = "WebhookLatency"
	MetricWebhookFailures      = "WebhookFailures"
	MetricConfigReloadFailures = "ConfigReloadFailures" // no dimensions
	MetricUnusableStates       = "UnusableStates"       // no dimensions
	// Heartbeats (package heartbeat), written by detect after each check.
	MetricSilentSources   = "SilentSources"   // no dimensions
	MetricHeartbeatChecks = "HeartbeatChecks" // no dimensions
)

// NamedQueue is a queue with the name its alarm carries.
type NamedQueue struct {
	Name  string
	Queue awssqs.IQueue
}

// NamedFunction is a function with the name its alarms carry.
type NamedFunction struct {
	Name     string
	Function awslambda.IFunction
}

// Props configure New.
type Props struct {
	// DLQs get an alarm on any visible message.
	DLQs []NamedQueue
	// Functions get alarms on errors and throttles.
	Functions []NamedFunction
	// IngestQueue gets an alarm on the age of its oldest message.
	IngestQueue awssqs.IQueue
	// IngestAgeThreshold is the age of the oldest ingest message that alarms.
	IngestAgeThreshold awscdk.Duration
	// Emails receive every alarm.
	Emails []string
	// SilentHours is how long an account and region, or the whole
	// pipeline, may stay silent before an alarm.
	SilentHours int
	// CentralBus receives the member accounts' forwarder DLQ alarm state
	// changes (forwarder.AlarmName), which go to the operations topic.
	CentralBus awsevents.IEventBus
	// ForwarderAlarmName is the name of the forwarders' DLQ alarm.
	ForwarderAlarmName string
}

// Operations is the constructed operations concern.
type Operations struct {
	Topic     *findings.Topic
	Alarms    []awscloudwatch.Alarm
	Dashboard awscloudwatch.Dashboard
	// ForwarderAlarms routes the forwarders' DLQ alarms from the central
	// bus to the topic; ForwarderAlarmsDLQ keeps what it cannot deliver.
	ForwarderAlarms    awsevents.Rule
	ForwarderAlarmsDLQ awssqs.Queue
}

// New creates the operations construct id.
func New(scope constructs.Construct, id string, p Props) *Operations {
	c := constructs.NewConstruct(scope, jsii.String(id))
	o := &Operations{}
	o.Topic = findings.NewEncryptedTopic(c, "Topic", "Trailwatch operations", secure.ServiceUse{
		Service: "cloudwatch.amazonaws.com",
		Actions: []string{"kms:Decrypt", "kms:GenerateDataKey"},
		// Only alarms of this account may use the key.
		Conditions: secure.SourceAccount(c),
	}, secure.ServiceUse{
		// The rule that forwards member accounts' alarms publishes to the
		// topic and writes to its DLQ; only rules of this account.
		Service:    "events.amazonaws.com",
		Actions:    []string{"kms:Decrypt", "kms:GenerateDataKey"},
		Conditions: secure.SourceAccount(c),
	})
	o.Topic.SubscribeEmailsAll(p.Emails)
	action := awscloudwatchactions.NewSnsAction(o.Topic.Topic)
	stackName := *awscdk.Stack_Of(c).StackName()
	five := awscdk.Duration_Minutes(jsii.Number(5))

	add := func(id, desc string, m awscloudwatch.IMetric, threshold float64) {
		a := awscloudwatch.NewAlarm(c, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmName:          jsii.String(fmt.Sprintf("%s-%s", stackName, id)),
			AlarmDescription:   jsii.String(desc),
			Metric:             m,
			Threshold:          jsii.Number(threshold),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(action)
		o.Alarms = append(o.Alarms, a)
	}

	for _, q := range p.DLQs {
		add(q.Name+"Messages",
			fmt.Sprintf("Messages are waiting in the %s dead-letter queue: events or findings were not processed. Inspect, fix the cause, then redrive.", q.Name),
			q.Queue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Maximum")}),
			0)
	}
	for _, f := range p.Functions {
		add(f.Name+"Errors",
			fmt.Sprintf("The %s function returned errors (see its log group).", f.Name),
			f.Function.MetricErrors(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}),
			0)
		add(f.Name+"Throttles",
			fmt.Sprintf("The %s function was throttled: raise its concurrency or the account limit.", f.Name),
			f.Function.MetricThrottles(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}),
			0)
	}
	add("IngestQueueAge",
		"The oldest CloudTrail event in the ingest queue is older than expected: detection is falling behind or failing.",
		p.IngestQueue.MetricApproximateAgeOfOldestMessage(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Maximum")}),
		*p.IngestAgeThreshold.ToSeconds(nil))
	add(MetricConfigReloadFailures,
		"The detect function could not load or validate the thresholds parameter and keeps its previous configuration. Run `trailwatch validate` on the deployed YAML.",
		awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(Namespace), MetricName: jsii.String(MetricConfigReloadFailures),
			Period: five, Statistic: jsii.String("Sum"),
		}),
		0)
	add(MetricUnusableStates,
		"The detect function met baselines written by a newer Trailwatch model than the deployed code (a rollback, or an old replay --store dynamodb pointed at this table): their principals' events fail to the DLQ instead of wiping them. Deploy the newer version, then redrive the DLQ.",
		awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(Namespace), MetricName: jsii.String(MetricUnusableStates),
			Period: five, Statistic: jsii.String("Sum"),
		}),
		0)

	if p.SilentHours > 0 {
		o.Alarms = append(o.Alarms, heartbeatAlarms(c, p.SilentHours, action)...)
	}
	if p.CentralBus != nil {
		o.ForwarderAlarms, o.ForwarderAlarmsDLQ = forwarderAlarms(c, p, o.Topic)
		add("ForwarderAlarmsDLQMessages",
			"Forwarder alarm notifications from member accounts could not be published to the operations topic; they wait in this dead-letter queue.",
			o.ForwarderAlarmsDLQ.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Maximum")}),
			0)
	}
	o.Dashboard = newDashboard(c, p)
	return o
}

// heartbeatAlarms watches the heartbeats: SilentSources above zero (an
// account and region that sent events before has been silent for
// silentHours; the detect log names it), and HeartbeatChecks missing for
// silentHours in a row (no event reached detect at all, so nothing could
// even be checked).
func heartbeatAlarms(c constructs.Construct, silentHours int, action awscloudwatch.IAlarmAction) []awscloudwatch.Alarm {
	stackName := *awscdk.Stack_Of(c).StackName()
	hour := awscdk.Duration_Hours(jsii.Number(1))
	silent := awscloudwatch.NewAlarm(c, jsii.String(MetricSilentSources), &awscloudwatch.AlarmProps{
		AlarmName:        jsii.String(stackName + "-" + MetricSilentSources),
		AlarmDescription: jsii.String(fmt.Sprintf("An account and region that has sent CloudTrail events sent none for %d hours: a stopped trail, a removed forwarder or a broken rule. The detect log names it (\"account and region silent\").", silentHours)),
		Metric: awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(Namespace), MetricName: jsii.String(MetricSilentSources),
			Period: hour, Statistic: jsii.String("Maximum"),
		}),
		Threshold:          jsii.Number(0),
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	none := awscloudwatch.NewAlarm(c, jsii.String("NoHeartbeatChecks"), &awscloudwatch.AlarmProps{
		AlarmName:        jsii.String(stackName + "-NoHeartbeatChecks"),
		AlarmDescription: jsii.String(fmt.Sprintf("No CloudTrail event reached the detect function for %d hours, from any account or region: the whole pipeline is silent.", silentHours)),
		Metric: awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(Namespace), MetricName: jsii.String(MetricHeartbeatChecks),
			Period: hour, Statistic: jsii.String("Sum"),
		}),
		Threshold:          jsii.Number(1),
		EvaluationPeriods:  jsii.Number(float64(silentHours)),
		DatapointsToAlarm:  jsii.Number(float64(silentHours)),
		ComparisonOperator: awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_BREACHING,
	})
	silent.AddAlarmAction(action)
	none.AddAlarmAction(action)
	return []awscloudwatch.Alarm{silent, none}
}

// forwarderAlarms creates the rule on the central bus that sends the
// forwarders' DLQ alarm state changes (from every member account and
// region) to the operations topic as a readable line, and its DLQ.
//
// The target is written at the CloudFormation level: the L2 SNS target
// would grant the bare events service principal (or its role
// kms:GenerateDataKey*) on the topic; here a role of this account
// publishes, with Topic.GrantPublish's narrow grants.
func forwarderAlarms(c constructs.Construct, p Props, topic *findings.Topic) (awsevents.Rule, awssqs.Queue) {
	dlq := secure.NewDeadLetterQueue(c, "ForwarderAlarmsDLQ", topic.Key)
	sourceAccount := secure.SourceAccount(c)
	role := awsiam.NewRole(c, jsii.String("ForwarderAlarmsRole"), &awsiam.RoleProps{
		Description: jsii.String("Trailwatch: EventBridge publishes member accounts' forwarder alarms to the operations topic"),
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("events.amazonaws.com"), &awsiam.ServicePrincipalOpts{
			Conditions: &sourceAccount,
		}),
	})
	topic.GrantPublish(role)
	rule := awsevents.NewRule(c, jsii.String("ForwarderAlarms"), &awsevents.RuleProps{
		Description: jsii.String("Trailwatch: member accounts' forwarder DLQ alarms to the operations topic"),
		EventBus:    p.CentralBus,
		EventPattern: &awsevents.EventPattern{
			Source:     jsii.Strings("aws.cloudwatch"),
			DetailType: jsii.Strings("CloudWatch Alarm State Change"),
			Detail: &map[string]interface{}{
				"alarmName": []interface{}{p.ForwarderAlarmName},
				"state":     map[string]interface{}{"value": []interface{}{"ALARM", "OK"}},
			},
		},
	})
	// EventBridge writes what it cannot deliver to the DLQ: only for this
	// rule.
	dlq.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("ForwarderAlarmsRuleDLQ"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("events.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sqs:SendMessage"),
		Resources:  jsii.Strings(*dlq.QueueArn()),
		Conditions: &map[string]interface{}{"ArnEquals": map[string]interface{}{"aws:SourceArn": *rule.RuleArn()}},
	}))
	cfn := rule.Node().DefaultChild().(awsevents.CfnRule)
	cfn.AddPropertyOverride(jsii.String("Targets"), []interface{}{map[string]interface{}{
		"Id":      "OperationsTopic",
		"Arn":     *topic.Topic.TopicArn(),
		"RoleArn": *role.RoleArn(),
		"InputTransformer": map[string]interface{}{
			"InputPathsMap": map[string]interface{}{
				"account": "$.account", "region": "$.region", "alarm": "$.detail.alarmName",
				"state": "$.detail.state.value", "reason": "$.detail.state.reason",
			},
			"InputTemplate": `"Trailwatch forwarder in account <account>, region <region>: alarm <alarm> is <state>. <reason> CloudTrail events that could not reach the central bus wait in that account's forwarder DLQ; fix the cause, then redrive."`,
		},
		"DeadLetterConfig": map[string]interface{}{"Arn": *dlq.QueueArn()},
		"RetryPolicy":      map[string]interface{}{"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185},
	}})
	return rule, dlq
}

// search graphs every dimension combination of an EMF metric; ${LABEL}
// (a CloudWatch dynamic label) names each series by its dimension values.
func search(metric, stat, label string) awscloudwatch.IMetric {
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String(fmt.Sprintf(`SEARCH('Namespace="%s" MetricName="%s"', '%s', 300)`, Namespace, metric, stat)),
		Label:      jsii.String(label + " ${LABEL}"),
		Period:     awscdk.Duration_Minutes(jsii.Number(5)),
	})
}

func graph(title string, metrics ...awscloudwatch.IMetric) awscloudwatch.IWidget {
	return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
		Title: jsii.String(title), Width: jsii.Number(12), Height: jsii.Number(6),
		Left: &metrics,
	})
}

func newDashboard(c constructs.Construct, p Props) awscloudwatch.Dashboard {
	d := awscloudwatch.NewDashboard(c, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DefaultInterval: awscdk.Duration_Days(jsii.Number(1)),
	})
	d.AddWidgets(
		graph("Events processed and skipped",
			search(MetricEventsProcessed, "Sum", "processed"),
			search(MetricEventsSkipped, "Sum", "skipped")),
		graph("Findings by detector and severity",
			search(MetricFindings, "Sum", "findings")),
	)
	d.AddWidgets(
		graph("Webhook latency (p50, p99)",
			search(MetricWebhookLatency, "p50", "p50"),
			search(MetricWebhookLatency, "p99", "p99")),
		graph("Webhook failures and config reload failures",
			search(MetricWebhookFailures, "Sum", "webhook failures"),
			search(MetricConfigReloadFailures, "Sum", "config reload failures")),
	)
	five := awscdk.Duration_Minutes(jsii.Number(5))
	var fnMetrics []awscloudwatch.IMetric
	for _, f := range p.Functions {
		fnMetrics = append(fnMetrics,
			f.Function.MetricErrors(&awscloudwatch.MetricOptions{Period: five, Label: jsii.String(f.Name + " errors")}),
			f.Function.MetricThrottles(&awscloudwatch.MetricOptions{Period: five, Label: jsii.String(f.Name + " throttles")}))
	}
	var qMetrics []awscloudwatch.IMetric
	qMetrics = append(qMetrics, p.IngestQueue.MetricApproximateAgeOfOldestMessage(&awscloudwatch.MetricOptions{Period: five, Label: jsii.String("ingest oldest message (s)")}))
	for _, q := range p.DLQs {
		qMetrics = append(qMetrics, q.Queue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Maximum"), Label: jsii.String(q.Name)}))
	}
	d.AddWidgets(graph("Function errors and throttles", fnMetrics...), graph("Queues: ingest age, DLQ depth", qMetrics...))
	return d
}
