// Package ingest is the ingestion concern: the central event bus that member
// accounts forward to, the rules that select CloudTrail events on it and on
// the default bus, and the encrypted SQS queue (with DLQs) they feed.
package ingest

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/trailwatch/trailwatch/infra/internal/secure"
)

// CentralBusName is the name of the organization-wide bus.
const CentralBusName = "trailwatch-central"

// Props configure New.
type Props struct {
	// OrganizationID (o-…) lets every account of the organization put events
	// on the central bus. Empty: only this account can.
	OrganizationID string
	// QueueVisibilityTimeout must cover the detect function's timeout.
	QueueVisibilityTimeout awscdk.Duration
	// MaxEventAge and RetryAttempts bound EventBridge's retries to the queue
	// before an event goes to the target DLQ.
	MaxEventAge   awscdk.Duration
	RetryAttempts int
	// TestEvents adds a rule on the central bus for synthetic events with
	// source TestSource put by this stack's account (see README: sending a
	// test event).
	TestEvents bool
}

// Ingestion is the constructed ingestion concern.
type Ingestion struct {
	Bus            awsevents.EventBus
	DefaultBusRule awsevents.Rule
	CentralBusRule awsevents.Rule
	// TestEventsRule is nil unless Props.TestEvents.
	TestEventsRule awsevents.Rule
	Key            awskms.Key
	Queue          awssqs.Queue
	QueueDLQ       awssqs.Queue
	TargetDLQ      awssqs.Queue
}

// New creates the ingestion construct id.
func New(scope constructs.Construct, id string, p Props) *Ingestion {
	c := constructs.NewConstruct(scope, jsii.String(id))
	in := &Ingestion{}
	// The SqsQueue target below adds the key statement EventBridge needs to
	// encrypt what it delivers (to the queue, and on failure to the target
	// DLQ), limited by aws:SourceAccount to rules of this account.
	in.Key = secure.NewKey(c, "Key", "Trailwatch ingest queue and its dead-letter queues")

	q := secure.NewQueue(c, "Queue", secure.QueueProps{
		Key:               in.Key,
		VisibilityTimeout: p.QueueVisibilityTimeout,
		MaxReceiveCount:   5,
	})
	in.Queue, in.QueueDLQ = q.Queue, q.DLQ
	in.TargetDLQ = secure.NewDeadLetterQueue(c, "TargetDLQ", in.Key)

	in.Bus = awsevents.NewEventBus(c, jsii.String("CentralBus"), &awsevents.EventBusProps{
		EventBusName: jsii.String(CentralBusName),
		Description:  jsii.String("Trailwatch: CloudTrail events forwarded by the organization's accounts"),
	})
	if p.OrganizationID != "" {
		in.Bus.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("AllowPutEventsFromOrganization"),
			Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
			Actions:    jsii.Strings("events:PutEvents"),
			Resources:  jsii.Strings(*in.Bus.EventBusArn()),
			Conditions: &map[string]interface{}{
				"StringEquals": map[string]interface{}{"aws:PrincipalOrgID": p.OrganizationID},
			},
		}))
	}

	target := awseventstargets.NewSqsQueue(in.Queue, &awseventstargets.SqsQueueProps{
		DeadLetterQueue: in.TargetDLQ,
		MaxEventAge:     p.MaxEventAge,
		RetryAttempts:   jsii.Number(float64(p.RetryAttempts)),
	})
	in.DefaultBusRule = awsevents.NewRule(c, jsii.String("DefaultBusRule"), &awsevents.RuleProps{
		Description:  jsii.String("Trailwatch: this account's mutating, console sign-in and access-denied CloudTrail events"),
		EventPattern: EventPattern(),
		Targets:      &[]awsevents.IRuleTarget{target},
	})
	in.CentralBusRule = awsevents.NewRule(c, jsii.String("CentralBusRule"), &awsevents.RuleProps{
		Description:  jsii.String("Trailwatch: CloudTrail events forwarded by member accounts"),
		EventBus:     in.Bus,
		EventPattern: EventPattern(),
		Targets:      &[]awsevents.IRuleTarget{target},
	})
	if p.TestEvents {
		in.TestEventsRule = awsevents.NewRule(c, jsii.String("TestEventsRule"), &awsevents.RuleProps{
			Description:  jsii.String("Trailwatch: synthetic test events (source " + TestSource + ", this account only); remove with enableTestEvents=false"),
			EventBus:     in.Bus,
			EventPattern: TestEventPattern(awscdk.Stack_Of(c).Account()),
			Targets:      &[]awsevents.IRuleTarget{target},
		})
	}
	return in
}
