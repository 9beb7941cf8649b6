// Package findings is the findings concern: the encrypted SNS topic the
// detect function publishes findings to (message attributes severity,
// detector, account), its e-mail subscriptions filtered by severity, and the
// notify pipeline (queue, DLQs, function, webhook secret) that turns findings
// into tickets.
package findings

import (
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/trailwatch/trailwatch/infra/internal/secure"
)

// Severities in increasing order, as in the Finding contract.
var Severities = []string{"INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

// SeverityAttribute is the SNS message attribute the filter policies match.
const SeverityAttribute = "severity"

// AtOrAbove returns the severities at or above min (nil for an unknown one).
func AtOrAbove(min string) []string {
	for i, s := range Severities {
		if s == min {
			return append([]string(nil), Severities[i:]...)
		}
	}
	return nil
}

// Topic is an encrypted, TLS-only SNS topic and its key.
type Topic struct {
	Topic awssns.Topic
	Key   awskms.Key
}

// NewEncryptedTopic creates a topic with its own customer-managed key and a
// topic policy that denies sns:Publish without TLS. uses let services (for
// example CloudWatch alarms) use the key.
func NewEncryptedTopic(scope constructs.Construct, id, displayName string, uses ...secure.ServiceUse) *Topic {
	c := constructs.NewConstruct(scope, jsii.String(id))
	key := secure.NewKey(c, "Key", "Trailwatch "+displayName+" topic", uses...)
	t := awssns.NewTopic(c, jsii.String("Topic"), &awssns.TopicProps{
		DisplayName: jsii.String(displayName),
		MasterKey:   key,
		EnforceSSL:  jsii.Bool(true),
	})
	return &Topic{Topic: t, Key: key}
}

// GrantPublish gives grantee sns:Publish on the topic and the KMS actions
// SNS needs for it on the topic key, only through SNS.
func (t *Topic) GrantPublish(grantee awsiam.IGrantable) {
	grantee.GrantPrincipal().AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("sns:Publish"),
		Resources: jsii.Strings(*t.Topic.TopicArn()),
	}))
	grantee.GrantPrincipal().AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("kms:GenerateDataKey", "kms:Decrypt"),
		Resources: jsii.Strings(*t.Key.KeyArn()),
		Conditions: &map[string]interface{}{
			"StringEquals": map[string]interface{}{
				"kms:ViaService": "sns." + *awscdk.Stack_Of(t.Topic).Region() + ".amazonaws.com",
			},
		},
	}))
}

// SubscribeEmails subscribes each address to the findings at or above the
// severity it is listed under (an address listed under several severities
// gets the lowest of them, once). The filter policy matches the severity
// message attribute.
func (t *Topic) SubscribeEmails(bySeverity map[string][]string) {
	minimum := map[string]int{}
	for sev, emails := range bySeverity {
		rank := indexOf(Severities, sev)
		for _, e := range emails {
			if r, ok := minimum[e]; !ok || rank < r {
				minimum[e] = rank
			}
		}
	}
	emails := make([]string, 0, len(minimum))
	for e := range minimum {
		emails = append(emails, e)
	}
	sort.Strings(emails)
	for _, e := range emails {
		sevs := Severities[minimum[e]:]
		t.Topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(e), &awssnssubscriptions.EmailSubscriptionProps{
			FilterPolicy: &map[string]awssns.SubscriptionFilter{
				SeverityAttribute: awssns.SubscriptionFilter_StringFilter(&awssns.StringConditions{
					Allowlist: jsii.Strings(sevs...),
				}),
			},
		}))
	}
}

// SubscribeEmailsAll subscribes each address to every message of the topic.
func (t *Topic) SubscribeEmailsAll(emails []string) {
	for _, e := range emails {
		t.Topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(e), nil))
	}
}

func indexOf(list []string, v string) int {
	for i, s := range list {
		if s == v {
			return i
		}
	}
	return -1
}
