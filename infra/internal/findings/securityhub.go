package findings

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/trailwatch/trailwatch/infra/internal/lambdafn"
	"github.com/trailwatch/trailwatch/infra/internal/secure"
)

// SecurityHubProps configure NewSecurityHub.
type SecurityHubProps struct {
	// CodeDir holds the notify bootstrap: the same function, run with
	// NOTIFY_SINK=securityhub.
	CodeDir          string
	Topic            *Topic
	LogLevel         string
	LogRetentionDays int
}

// SecurityHub is the constructed Security Hub export.
type SecurityHub struct {
	Key             awskms.Key
	Queue           awssqs.Queue
	QueueDLQ        awssqs.Queue
	SubscriptionDLQ awssqs.Queue
	Function        lambdafn.Function
	// ProductArn is this account's default Security Hub product, where the
	// findings are imported.
	ProductArn string
}

// NewSecurityHub creates the Security Hub export construct id: a queue
// subscribed to the findings topic (every finding), its DLQs, and the notify
// function with NOTIFY_SINK=securityhub, allowed
// securityhub:BatchImportFindings on this account's default product only.
func NewSecurityHub(scope constructs.Construct, id string, p SecurityHubProps) *SecurityHub {
	c := constructs.NewConstruct(scope, jsii.String(id))
	s := &SecurityHub{}
	s.Key = secure.NewKey(c, "Key", "Trailwatch Security Hub export queue and its dead-letter queues")
	q := secure.NewQueue(c, "Queue", secure.QueueProps{
		Key:               s.Key,
		VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(6 * 30)),
		MaxReceiveCount:   5,
	})
	s.Queue, s.QueueDLQ = q.Queue, q.DLQ
	s.SubscriptionDLQ = secure.NewDeadLetterQueue(c, "SubscriptionDLQ", s.Key)
	p.Topic.Topic.AddSubscription(awssnssubscriptions.NewSqsSubscription(s.Queue, &awssnssubscriptions.SqsSubscriptionProps{
		RawMessageDelivery: jsii.Bool(false),
		DeadLetterQueue:    s.SubscriptionDLQ,
	}))

	st := awscdk.Stack_Of(c)
	s.ProductArn = *awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("arn:"), st.Partition(), jsii.String(":securityhub:"), st.Region(), jsii.String(":"),
		st.Account(), jsii.String(":product/"), st.Account(), jsii.String("/default"),
	})
	fn := lambdafn.New(c, "Function", lambdafn.Props{
		Description: "Trailwatch Security Hub export: imports findings in ASFF (BatchImportFindings)",
		CodeDir:     p.CodeDir,
		Environment: map[string]string{
			"NOTIFY_SINK":             "securityhub",
			"SECURITYHUB_PRODUCT_ARN": s.ProductArn,
			"LOG_LEVEL":               p.LogLevel,
		},
		LogRetentionDays: p.LogRetentionDays,
		Timeout:          NotifyTimeout,
		MemoryMB:         256,
	})
	s.Function = fn
	fn.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("ImportFindings"),
		Actions:   jsii.Strings("securityhub:BatchImportFindings"),
		Resources: jsii.Strings(s.ProductArn),
	}))
	fn.Function.AddEventSource(awslambdaeventsources.NewSqsEventSource(s.Queue, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(10),
		ReportBatchItemFailures: jsii.Bool(true),
		MaxConcurrency:          jsii.Number(2),
	}))
	return s
}
