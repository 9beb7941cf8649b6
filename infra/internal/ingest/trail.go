package ingest

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3notifications"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/trailwatch/trailwatch/infra/internal/secure"
)

// TrailBatchSize is how many object notifications one detect invocation
// receives in S3 ingest: a CloudTrail log file holds up to a few thousand
// events, so ten files are about what one invocation scores in its timeout.
const TrailBatchSize = 10

// TrailProps configure NewTrail.
type TrailProps struct {
	// BucketName is the trail's bucket (an organization trail writes every
	// account to it); it must be in this stack's account, which configures
	// its notifications.
	BucketName string
	// KeyARN is the KMS key the trail encrypts its files with (SSE-KMS),
	// or empty for SSE-S3.
	KeyARN string
	// QueueVisibilityTimeout must cover the detect function's timeout.
	QueueVisibilityTimeout awscdk.Duration
}

// Trail is S3 ingest: the trail bucket's object-created notifications on an
// encrypted queue, with its DLQ.
type Trail struct {
	Bucket awss3.IBucket
	Key    awskms.Key
	Queue  awssqs.Queue
	DLQ    awssqs.Queue
	// KeyARN is TrailProps.KeyARN.
	KeyARN     string
	bucketName string
}

// NewTrail creates S3 ingest, construct id.
//
// The bucket notifies the queue directly (an S3 event notification), not
// through EventBridge "Object Created" events: no bus and rule to pay for or
// to forward across accounts, the messages carry the object key and ETag
// the function needs, and S3's test event shows the wiring works on the
// first deployment. The notification is added beside the bucket's existing
// ones (CDK's notifications resource leaves the others alone); S3 refuses
// two notifications of ObjectCreated whose filters overlap, so a bucket
// that already sends its log files elsewhere needs them fanned out through
// SNS or EventBridge instead (README, S3 ingest).
func NewTrail(scope constructs.Construct, id string, p TrailProps) *Trail {
	c := constructs.NewConstruct(scope, jsii.String(id))
	t := &Trail{KeyARN: p.KeyARN, bucketName: p.BucketName}
	// The SqsDestination below adds to this key the statement S3 needs to
	// encrypt the messages it sends (kms:GenerateDataKey*, kms:Decrypt).
	t.Key = secure.NewKey(c, "Key", "Trailwatch trail notification queue and its dead-letter queue")
	q := secure.NewQueue(c, "Queue", secure.QueueProps{
		Key:               t.Key,
		VisibilityTimeout: p.QueueVisibilityTimeout,
		MaxReceiveCount:   5,
	})
	t.Queue, t.DLQ = q.Queue, q.DLQ
	// CDK configures an existing bucket's notifications with a function run
	// at deployment; its role gets the bucket-notification actions on this
	// bucket and, from CDK, the basic execution policy for its logs.
	handlerRole := awsiam.NewRole(c, jsii.String("NotificationsHandlerRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("Trailwatch: sets the trail bucket's notification to the trail queue at deployment"),
	})
	secure.Suppress(handlerRole, true, secure.Rule{
		ID: "AwsSolutions-IAM4",
		Reason: "CDK's bucket-notifications handler always attaches AWSLambdaBasicExecutionRole (its own logs) to its role; the function runs " +
			"only at deployment and the role can otherwise only read and set this bucket's notification configuration.",
		AppliesTo: []string{"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"},
	})
	t.Bucket = awss3.Bucket_FromBucketAttributes(c, jsii.String("TrailBucket"), &awss3.BucketAttributes{
		BucketName:               jsii.String(p.BucketName),
		NotificationsHandlerRole: handlerRole,
	})
	// Every log file ends in .json.gz; so do digest files, which the
	// function recognises by their key and acknowledges unread.
	t.Bucket.AddEventNotification(awss3.EventType_OBJECT_CREATED, awss3notifications.NewSqsDestination(t.Queue),
		&awss3.NotificationKeyFilter{Suffix: jsii.String(".json.gz")})
	return t
}

// GrantRead lets grantee read the trail's files: s3:GetObject on the
// bucket's objects (no listing, no other bucket) and, when the trail is
// SSE-KMS encrypted, kms:Decrypt on its key through S3 only.
func (t *Trail) GrantRead(role awsiam.Role) {
	object := fmt.Sprintf("%s/*", *t.Bucket.BucketArn())
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("TrailLogFiles"),
		Actions:   jsii.Strings("s3:GetObject"),
		Resources: jsii.Strings(object),
	}))
	secure.Suppress(role, true, secure.Rule{
		ID: "AwsSolutions-IAM5",
		Reason: "CloudTrail names each log file at write time (account, region, date, random suffix); the function reads the file each notification " +
			"names, so it needs s3:GetObject on the trail bucket's objects. Only that action, only that bucket.",
		AppliesTo: []string{"Resource::arn:<AWS::Partition>:s3:::" + t.bucketName + "/*"},
	})
	if t.KeyARN == "" {
		return
	}
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("TrailLogFilesKey"),
		Actions:   jsii.Strings("kms:Decrypt"),
		Resources: jsii.Strings(t.KeyARN),
		Conditions: &map[string]interface{}{
			"StringLike": map[string]interface{}{"kms:ViaService": "s3.*.amazonaws.com"},
		},
	}))
}
