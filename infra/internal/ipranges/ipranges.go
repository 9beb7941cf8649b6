// Package ipranges is the concern of AWS's published address ranges
// (ip-ranges.json): the detect function ships a copy beside its bootstrap
// and refreshes it from an S3 object that the ipranges function keeps
// current. That function runs when AWS announces a new file on its public
// SNS topic AmazonIpSpaceChanged (us-east-1; a cross-region Lambda
// subscription), once a day, and at each deployment whose function code or
// bundled ranges changed (a custom resource).
package ipranges

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/trailwatch/trailwatch/infra/internal/lambdafn"
	"github.com/trailwatch/trailwatch/infra/internal/secure"
)

const (
	// FunctionName is the directory of the function's bootstrap under the
	// functions directory (build/lambda/ipranges/bootstrap).
	FunctionName = "ipranges"
	// BundledFile is the ranges file the Makefile puts beside the detect
	// function's bootstrap. AWS_IP_RANGES_FILE names it relative to the
	// bootstrap (on Lambda, /var/task/ip-ranges.json.gz), so the same value
	// works under the Lambda emulator.
	BundledFile = "ip-ranges.json.gz"
	// ObjectKey is the key of the bucket copy.
	ObjectKey = "ip-ranges.json.gz"
	// TopicARN is AWS's public topic announcing a new ip-ranges.json.
	TopicARN = "arn:aws:sns:us-east-1:806199016981:AmazonIpSpaceChanged"
)

// Props configure New.
type Props struct {
	// CodeDir is the ipranges function's code (a directory holding its
	// bootstrap, or a release zip).
	CodeDir string
	// Build identifies the function's code and the ranges bundled with
	// detect: when it changes, the refresher runs again at deployment.
	Build            string
	LogLevel         string
	LogRetentionDays int
}

// IPRanges is the constructed concern.
type IPRanges struct {
	// Key encrypts the bucket and the schedule's dead-letter queue.
	Key    awskms.Key
	Bucket awss3.Bucket
	// Function is the ipranges function that writes the bucket copy.
	Function lambdafn.Function
	// Daily runs the function once a day; its failed deliveries go to
	// ScheduleDLQ.
	Daily       awsevents.Rule
	ScheduleDLQ awssqs.Queue
	// Deployment runs the function when a deployment changes its code or
	// the bundled ranges.
	Deployment awscdk.CustomResource
}

// New creates the construct id.
func New(scope constructs.Construct, id string, p Props) *IPRanges {
	c := constructs.NewConstruct(scope, jsii.String(id))
	r := &IPRanges{}
	// EventBridge encrypts what it dead-letters from the daily schedule.
	r.Key = secure.NewKey(c, "Key", "Trailwatch: the copy of AWS's ip-ranges.json and its schedule's dead-letter queue",
		secure.ServiceUse{
			Service:    "events.amazonaws.com",
			Actions:    []string{"kms:Decrypt", "kms:GenerateDataKey"},
			Conditions: secure.SourceAccount(c),
		})
	r.Bucket = awss3.NewBucket(c, jsii.String("Bucket"), &awss3.BucketProps{
		Encryption:        awss3.BucketEncryption_KMS,
		EncryptionKey:     r.Key,
		BucketKeyEnabled:  jsii.Bool(true),
		EnforceSSL:        jsii.Bool(true),
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		Versioned:         jsii.Bool(true),
		LifecycleRules: &[]*awss3.LifecycleRule{{
			NoncurrentVersionExpiration:         awscdk.Duration_Days(jsii.Number(30)),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
		}},
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	secure.Suppress(r.Bucket, false, secure.Rule{
		ID: "AwsSolutions-S1",
		Reason: "The bucket holds one object, a copy of AWS's public ip-ranges.json, written only by the ipranges function and read only by detect " +
			"(both scoped to that key); access logs would need a second bucket that itself raises S1, and record nothing secret.",
	})

	r.Function = lambdafn.New(c, "Refresh", lambdafn.Props{
		Description: "Trailwatch ipranges: keeps the copy of AWS's ip-ranges.json current in S3",
		CodeDir:     p.CodeDir,
		Environment: map[string]string{
			"IP_RANGES_BUCKET": *r.Bucket.BucketName(),
			"IP_RANGES_KEY":    ObjectKey,
			"LOG_LEVEL":        p.LogLevel,
		},
		LogRetentionDays: p.LogRetentionDays,
		Timeout:          awscdk.Duration_Minutes(jsii.Number(2)),
		MemoryMB:         256,
		// One update at a time is plenty; updates are conditional writes.
		ReservedConcurrency: 0,
	})
	role := r.Function.Role
	// HeadObject and GetObject need s3:GetObject; the conditional write
	// s3:PutObject. Nothing else, on that one key.
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("WriteTheRangesCopy"),
		Actions:   jsii.Strings("s3:GetObject", "s3:PutObject"),
		Resources: jsii.Strings(*r.Bucket.ArnForObjects(jsii.String(ObjectKey))),
	}))
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("EncryptTheRangesCopy"),
		Actions:   jsii.Strings("kms:GenerateDataKey", "kms:Decrypt"),
		Resources: jsii.Strings(*r.Key.KeyArn()),
	}))

	// AWS's announcement, from us-east-1 whatever the stack's region (the
	// subscription carries Region us-east-1; the function's resource
	// policy admits sns.amazonaws.com for that topic only).
	topic := awssns.Topic_FromTopicArn(c, jsii.String("AmazonIpSpaceChanged"), jsii.String(TopicARN))
	topic.AddSubscription(awssnssubscriptions.NewLambdaSubscription(r.Function.Function, nil))

	// Once a day, in case a notification was lost.
	r.ScheduleDLQ = secure.NewDeadLetterQueue(c, "ScheduleDLQ", r.Key)
	r.Daily = awsevents.NewRule(c, jsii.String("Daily"), &awsevents.RuleProps{
		Description: jsii.String("Trailwatch: refresh the copy of AWS's ip-ranges.json daily"),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Days(jsii.Number(1))),
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(r.Function.Function, &awseventstargets.LambdaFunctionProps{
			DeadLetterQueue: r.ScheduleDLQ,
			MaxEventAge:     awscdk.Duration_Hours(jsii.Number(2)),
			RetryAttempts:   jsii.Number(3),
		})},
	})

	// At deployment: CloudFormation invokes the function directly (its
	// ARN is the service token) and the function answers. The property
	// changes with the function's code and the bundled ranges, so a new
	// build runs it again.
	r.Deployment = awscdk.NewCustomResource(c, jsii.String("Deployment"), &awscdk.CustomResourceProps{
		ServiceToken: r.Function.Function.FunctionArn(),
		ResourceType: jsii.String("Custom::AWSIPRanges"),
		Properties: &map[string]interface{}{
			"Build": p.Build,
		},
	})
	r.Deployment.Node().AddDependency(role)
	return r
}

// DetectEnvironment is what the detect function needs to find the ranges:
// the bundled file beside its bootstrap and the bucket copy.
func (r *IPRanges) DetectEnvironment() map[string]string {
	return map[string]string{
		"AWS_IP_RANGES_FILE": BundledFile,
		"IP_RANGES_BUCKET":   *r.Bucket.BucketName(),
		"IP_RANGES_KEY":      ObjectKey,
	}
}

// GrantRead lets grantee read the bucket copy: s3:GetObject on its key
// and kms:Decrypt on the bucket key, nothing else.
func (r *IPRanges) GrantRead(grantee awsiam.IGrantable) {
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings("s3:GetObject"),
		ResourceArns: jsii.Strings(*r.Bucket.ArnForObjects(jsii.String(ObjectKey))),
	})
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings("kms:Decrypt"),
		ResourceArns: jsii.Strings(*r.Key.KeyArn()),
	})
}
