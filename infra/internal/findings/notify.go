package findings

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/trailwatch/trailwatch/infra/internal/lambdafn"
	"github.com/trailwatch/trailwatch/infra/internal/secure"
)

// TicketAttribute is the SNS message attribute the detect function sets to
// "true" on findings that open a ticket (notify.AttrTicket).
const TicketAttribute = "ticket"

// NotifyTimeout of one notify invocation (webhook retries included).
var NotifyTimeout = awscdk.Duration_Seconds(jsii.Number(30))

// NotifyProps configure NewNotify.
type NotifyProps struct {
	CodeDir          string
	Topic            *Topic
	WebhookFormat    string
	WebhookURL       string
	JiraProjectKey   string
	JiraIssueType    string
	LogLevel         string
	LogRetentionDays int
}

// Notify is the constructed notify pipeline.
type Notify struct {
	Key             awskms.Key
	Queue           awssqs.Queue
	QueueDLQ        awssqs.Queue
	SubscriptionDLQ awssqs.Queue
	Secret          awssecretsmanager.Secret
	Function        lambdafn.Function
}

// NewNotify creates the notify pipeline construct id: a queue subscribed to
// the findings topic (SNS envelope kept, raw delivery off), its DLQ, a DLQ
// for deliveries SNS cannot make to the queue, the generated webhook signing
// secret, and the notify function.
func NewNotify(scope constructs.Construct, id string, p NotifyProps) *Notify {
	c := constructs.NewConstruct(scope, jsii.String(id))
	n := &Notify{}
	n.Key = secure.NewKey(c, "Key", "Trailwatch notify queue, its dead-letter queues and the webhook secret")
	q := secure.NewQueue(c, "Queue", secure.QueueProps{
		Key:               n.Key,
		VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(6 * 30)),
		MaxReceiveCount:   5,
	})
	n.Queue, n.QueueDLQ = q.Queue, q.DLQ
	n.SubscriptionDLQ = secure.NewDeadLetterQueue(c, "SubscriptionDLQ", n.Key)
	// Adds the queue policies (sqs:SendMessage for sns.amazonaws.com from this
	// topic only) and the key statement SNS needs, scoped to the topic ARN.
	//
	// Only findings that open a ticket reach the queue: the detect function
	// decides it per publication from the live config (routing.
	// ticket_min_severity, hot reloaded) and says so in the message
	// attribute ticket; this filter is the same for every config.
	p.Topic.Topic.AddSubscription(awssnssubscriptions.NewSqsSubscription(n.Queue, &awssnssubscriptions.SqsSubscriptionProps{
		RawMessageDelivery: jsii.Bool(false),
		DeadLetterQueue:    n.SubscriptionDLQ,
		FilterPolicy: &map[string]awssns.SubscriptionFilter{
			TicketAttribute: awssns.SubscriptionFilter_StringFilter(&awssns.StringConditions{
				Allowlist: jsii.Strings("true"),
			}),
		},
	}))

	n.Secret = awssecretsmanager.NewSecret(c, jsii.String("WebhookSecret"), &awssecretsmanager.SecretProps{
		Description:   jsii.String("Trailwatch webhook signing secret (generic format) or API token (jira, pagerduty)"),
		EncryptionKey: n.Key,
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength:     jsii.Number(64),
			ExcludePunctuation: jsii.Bool(true),
		},
	})
	secure.Suppress(n.Secret, false, secure.Rule{
		ID:     "AwsSolutions-SMG4",
		Reason: "The webhook secret is shared with the receiving ticketing system (HMAC key or its API token); rotating it needs the receiver changed at the same moment, so it is rotated by the operator as documented in infra/README.md, not by a rotation Lambda.",
	})

	fn := lambdafn.New(c, "Function", lambdafn.Props{
		Description: "Trailwatch notify: delivers findings to the ticketing webhook",
		CodeDir:     p.CodeDir,
		Environment: map[string]string{
			"WEBHOOK_FORMAT":     p.WebhookFormat,
			"WEBHOOK_URL":        p.WebhookURL,
			"WEBHOOK_SECRET_ARN": *n.Secret.SecretArn(),
			"JIRA_PROJECT_KEY":   p.JiraProjectKey,
			"JIRA_ISSUE_TYPE":    p.JiraIssueType,
			"LOG_LEVEL":          p.LogLevel,
		},
		LogRetentionDays: p.LogRetentionDays,
		Timeout:          NotifyTimeout,
		MemoryMB:         256,
	})
	n.Function = fn
	fn.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("WebhookSecret"),
		Actions:   jsii.Strings("secretsmanager:GetSecretValue"),
		Resources: jsii.Strings(*n.Secret.SecretArn()),
	}))
	// Grants consume on the queue and kms:Decrypt on the notify key (which
	// also protects the secret).
	fn.Function.AddEventSource(awslambdaeventsources.NewSqsEventSource(n.Queue, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(10),
		ReportBatchItemFailures: jsii.Bool(true),
		MaxConcurrency:          jsii.Number(2),
	}))
	return n
}
