// Package secure holds the building blocks every Trailwatch construct uses
// to stay encrypted, TLS-only and least-privilege: customer-managed KMS keys
// with scoped key policies, encrypted SQS queues with dead-letter queues, and
// cdk-nag suppressions that must carry a written reason.
package secure

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// KeyAdminActions are the key-management actions the account (through IAM)
// may perform on a Trailwatch key. It is the AWS console's default
// administrator statement: it keeps the key manageable (and so passes the
// KMS policy lockout check) without granting kms:*.
var KeyAdminActions = []string{
	"kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
	"kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
	"kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
	"kms:CancelKeyDeletion", "kms:RotateKeyOnDemand",
}

// KeyUseActions are the cryptographic actions the key policy delegates to
// IAM: an identity policy in this account can use the key only for these,
// and only when it grants them itself (functions get narrow grants).
var KeyUseActions = []string{
	"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey",
}

// ServiceUse lets an AWS service principal use a key directly through the
// key policy, for services that encrypt on their own behalf (for example
// CloudWatch publishing an alarm to an encrypted topic).
type ServiceUse struct {
	// Service is the service principal, for example "cloudwatch.amazonaws.com".
	Service string
	// Actions are the KMS actions the service needs.
	Actions []string
	// Conditions narrow the statement (confused-deputy protection).
	Conditions map[string]interface{}
}

// NewKey creates a symmetric customer-managed key with yearly rotation and a
// scoped key policy: account administration through IAM (no kms:*), use
// through IAM for the KeyUseActions, and the given service uses. The key is
// retained when the stack is deleted, so data it protects stays readable.
func NewKey(scope constructs.Construct, id, description string, uses ...ServiceUse) awskms.Key {
	policy := awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{})
	policy.AddStatements(
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("KeyAdministrationThroughIAM"),
			Principals: &[]awsiam.IPrincipal{awsiam.NewAccountRootPrincipal()},
			Actions:    jsii.Strings(KeyAdminActions...),
			// In a key policy "*" means "this key".
			Resources: jsii.Strings("*"),
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("KeyUseThroughIAM"),
			Principals: &[]awsiam.IPrincipal{awsiam.NewAccountRootPrincipal()},
			Actions:    jsii.Strings(KeyUseActions...),
			Resources:  jsii.Strings("*"),
		}),
	)
	for _, u := range uses {
		st := &awsiam.PolicyStatementProps{
			Sid:        jsii.String("Allow" + sidPart(u.Service)),
			Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String(u.Service), nil)},
			Actions:    jsii.Strings(u.Actions...),
			Resources:  jsii.Strings("*"),
		}
		if len(u.Conditions) > 0 {
			c := u.Conditions
			st.Conditions = &c
		}
		policy.AddStatements(awsiam.NewPolicyStatement(st))
	}
	return awskms.NewKey(scope, jsii.String(id), &awskms.KeyProps{
		Description:       jsii.String(description),
		EnableKeyRotation: jsii.Bool(true),
		Policy:            policy,
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
		PendingWindow:     awscdk.Duration_Days(jsii.Number(30)),
	})
}

func sidPart(service string) string {
	name := strings.TrimSuffix(service, ".amazonaws.com")
	var b strings.Builder
	up := true
	for _, r := range name {
		if r == '.' || r == '-' {
			up = true
			continue
		}
		if up {
			b.WriteString(strings.ToUpper(string(r)))
			up = false
		} else {
			b.WriteRune(r)
		}
	}
	return b.String() + "Use"
}

// SourceAccount is the confused-deputy condition that limits a service
// principal to acting on behalf of resources in this stack's account.
func SourceAccount(scope constructs.Construct) map[string]interface{} {
	return map[string]interface{}{
		"StringEquals": map[string]interface{}{"aws:SourceAccount": awscdk.Stack_Of(scope).Account()},
	}
}

// QueueProps configure NewQueue.
type QueueProps struct {
	// Key encrypts the queue (and its DLQ). Required.
	Key awskms.IKey
	// VisibilityTimeout must be at least the consuming function's timeout.
	VisibilityTimeout awscdk.Duration
	// MaxReceiveCount is how often a message is received before it moves to
	// the DLQ. Zero means this queue is itself a DLQ and gets none.
	MaxReceiveCount int
}

// Queue is an encrypted, TLS-only queue and, unless it is a DLQ itself,
// its dead-letter queue.
type Queue struct {
	Queue awssqs.Queue
	// DLQ is nil when the queue is itself a dead-letter queue.
	DLQ awssqs.Queue
}

// NewQueue creates an SQS queue encrypted with a customer-managed key,
// refusing non-TLS requests, with 14 days of retention and (when
// MaxReceiveCount > 0) a dead-letter queue with the same protections.
func NewQueue(scope constructs.Construct, id string, props QueueProps) Queue {
	var q Queue
	var dlq *awssqs.DeadLetterQueue
	if props.MaxReceiveCount > 0 {
		q.DLQ = NewDeadLetterQueue(scope, id+"DLQ", props.Key)
		dlq = &awssqs.DeadLetterQueue{Queue: q.DLQ, MaxReceiveCount: jsii.Number(float64(props.MaxReceiveCount))}
	}
	q.Queue = awssqs.NewQueue(scope, jsii.String(id), &awssqs.QueueProps{
		Encryption:          awssqs.QueueEncryption_KMS,
		EncryptionMasterKey: props.Key,
		DataKeyReuse:        awscdk.Duration_Hours(jsii.Number(1)),
		EnforceSSL:          jsii.Bool(true),
		VisibilityTimeout:   props.VisibilityTimeout,
		RetentionPeriod:     awscdk.Duration_Days(jsii.Number(4)),
		DeadLetterQueue:     dlq,
	})
	return q
}

// NewDeadLetterQueue creates a dead-letter queue: encrypted, TLS-only, with
// the maximum retention of 14 days so an operator has time to redrive it.
// A DLQ has no DLQ of its own; the AwsSolutions-SQS3 finding that raises is
// suppressed here with that reason.
func NewDeadLetterQueue(scope constructs.Construct, id string, key awskms.IKey) awssqs.Queue {
	q := awssqs.NewQueue(scope, jsii.String(id), &awssqs.QueueProps{
		Encryption:          awssqs.QueueEncryption_KMS,
		EncryptionMasterKey: key,
		DataKeyReuse:        awscdk.Duration_Hours(jsii.Number(1)),
		EnforceSSL:          jsii.Bool(true),
		RetentionPeriod:     awscdk.Duration_Days(jsii.Number(14)),
	})
	Suppress(q, false, Rule{
		ID:     "AwsSolutions-SQS3",
		Reason: "This queue is itself a dead-letter queue (for a queue or an EventBridge target); a DLQ of a DLQ would only move the same messages again. A CloudWatch alarm fires on any message in it.",
	})
	return q
}

// Rule is one cdk-nag suppression.
type Rule struct {
	// ID is the rule ID, for example "AwsSolutions-SQS3".
	ID string
	// Reason explains, specifically, why the finding does not apply.
	Reason string
	// AppliesTo narrows the suppression to specific findings (for example
	// "Resource::*" for AwsSolutions-IAM5); empty means the whole rule.
	AppliesTo []string
}

// MinReasonLength is the shortest suppression reason accepted: a reason must
// say why, not just "ok".
const MinReasonLength = 20

// Suppress records cdk-nag suppressions on a construct (and its children when
// applyToChildren is set). It panics on a reason shorter than
// MinReasonLength, which is a programming error caught by every synth.
func Suppress(c constructs.IConstruct, applyToChildren bool, rules ...Rule) {
	s := make([]*cdknag.NagPackSuppression, 0, len(rules))
	for _, r := range rules {
		if len(strings.TrimSpace(r.Reason)) < MinReasonLength {
			panic(fmt.Sprintf("cdk-nag suppression %s on %s needs a specific reason (at least %d characters)", r.ID, *c.Node().Path(), MinReasonLength))
		}
		sup := &cdknag.NagPackSuppression{Id: jsii.String(r.ID), Reason: jsii.String(r.Reason)}
		if len(r.AppliesTo) > 0 {
			at := make([]interface{}, len(r.AppliesTo))
			for i, a := range r.AppliesTo {
				at[i] = a
			}
			sup.AppliesTo = &at
		}
		s = append(s, sup)
	}
	cdknag.NagSuppressions_AddResourceSuppressions(c, &s, jsii.Bool(applyToChildren))
}
