// Package backfill is the organization-scale warm start (context
// warmStart=true): the backfill function (functions/backfill, the unit of
// work of `trailwatch backfill` for one account) and a Step Functions
// state machine that lists the accounts of the organization trail's
// archive, then backfills them in a Distributed Map, invoking the function
// for an account again until it answers done (each invocation stops
// before Lambda's 15 minutes, after saving its checkpoint).
//
// Least privilege: the function reads only the archive bucket (s3:ListBucket
// on it, s3:GetObject on its AWSLogs/ keys, kms:Decrypt on its key through
// S3 when the bucket uses one), writes only the baselines table (the item
// actions of a backfill, no table management), reads the deployed
// thresholds and AWS's ranges as detect does, and logs to a log group
// encrypted with this construct's key; the state machine may invoke only
// the function, logs every event to an encrypted log group and is traced.
package backfill

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/trailwatch/trailwatch/infra/internal/ipranges"
	"github.com/trailwatch/trailwatch/infra/internal/lambdafn"
	"github.com/trailwatch/trailwatch/infra/internal/secure"
	"github.com/trailwatch/trailwatch/infra/internal/state"
	"github.com/trailwatch/trailwatch/infra/internal/thresholds"
)

// FunctionName is the function's directory under the functions directory.
const FunctionName = "backfill"

// Context keys (cdk ... -c key=value).
const (
	// ContextEnable switches the warm start on (default false: the
	// default synth has none of it).
	ContextEnable = "warmStart"
	// ContextBucket and ContextKey name the organization trail's bucket
	// (the archive) and the ARN of its SSE-KMS key, if any. Without them,
	// the bucket and key of S3 ingest (trailBucket, trailBucketKey) are
	// used.
	ContextBucket      = "archiveBucket"
	ContextKey         = "archiveBucketKey"
	contextTrailBucket = "trailBucket"
	contextTrailKey    = "trailBucketKey"
	// ContextMaxConcurrency caps the accounts backfilled at once
	// (default 10); ContextToleratedFailures is how many accounts may
	// fail before the execution does (default 0).
	ContextMaxConcurrency    = "warmStartMaxConcurrency"
	ContextToleratedFailures = "warmStartToleratedFailures"
)

// TableActions are the only table actions the function gets: what
// baselines.DynamoDB calls, and the checkpoint's GetItem/PutItem and the
// newer-state check's Scan.
var TableActions = []string{"dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Scan"}

// Timeout of one invocation (Lambda's maximum); StopReserve is how long
// before it the function stops, after saving its checkpoint.
const (
	TimeoutMinutes = 15
	StopReserve    = "90s"
	MemoryMB       = 1769 // one vCPU
	// BatchSize is the events per engine batch (trailwatch backfill's
	// default; at most the baselines' remembered event IDs).
	BatchSize = 100
)

// Settings are the warm start's deploy-time parameters.
type Settings struct {
	Enabled           bool
	Bucket            string
	KeyARN            string
	MaxConcurrency    int
	ToleratedFailures int
}

var (
	bucketPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	keyPattern    = regexp.MustCompile(`^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$`)
)

// FromContext reads the settings from the construct tree's context; with
// the warm start on, the bucket is required.
func FromContext(node constructs.Node) (Settings, error) {
	s := Settings{MaxConcurrency: 10}
	str := func(key string) string {
		v := node.TryGetContext(jsii.String(key))
		if v == nil {
			return ""
		}
		return strings.TrimSpace(fmt.Sprint(v))
	}
	var errs []string
	if v := str(ContextEnable); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: want true or false, got %q", ContextEnable, v))
		}
		s.Enabled = b
	}
	num := func(key string, dst *int, lo, hi int) {
		v := str(key)
		if v == "" {
			return
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			errs = append(errs, fmt.Sprintf("%s: want %d to %d, got %q", key, lo, hi, v))
			return
		}
		*dst = n
	}
	num(ContextMaxConcurrency, &s.MaxConcurrency, 1, 1000)
	num(ContextToleratedFailures, &s.ToleratedFailures, 0, 100000)
	s.Bucket, s.KeyARN = str(ContextBucket), str(ContextKey)
	if s.Bucket == "" {
		s.Bucket, s.KeyARN = str(contextTrailBucket), str(contextTrailKey)
	}
	if s.Enabled {
		if !bucketPattern.MatchString(s.Bucket) {
			errs = append(errs, fmt.Sprintf("%s=true needs %s, the organization trail's bucket (got %q)", ContextEnable, ContextBucket, s.Bucket))
		}
		if s.KeyARN != "" && !keyPattern.MatchString(s.KeyARN) {
			errs = append(errs, fmt.Sprintf("%s %q is not a KMS key ARN", ContextKey, s.KeyARN))
		}
	}
	if len(errs) > 0 {
		return s, fmt.Errorf("cdk context: %s", strings.Join(errs, "; "))
	}
	return s, nil
}

// Props configure New.
type Props struct {
	Settings
	// CodeDir is the function's code.
	CodeDir          string
	State            *state.State
	Thresholds       *thresholds.Thresholds
	IPRanges         *ipranges.IPRanges
	LogLevel         string
	LogRetentionDays int
}

// WarmStart is the constructed concern.
type WarmStart struct {
	// Key encrypts both log groups.
	Key          awskms.Key
	Function     lambdafn.Function
	StateMachine awsstepfunctions.StateMachine
	LogGroup     awslogs.LogGroup
}

// Retries of a backfill invocation: Lambda's own transient errors, and
// BackfillError (S3 or DynamoDB failed; the checkpoint makes it safe).
var (
	LambdaServiceErrors = []string{"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException", "Lambda.TooManyRequestsException"}
	FunctionErrors      = []string{"BackfillError"}
)

// New creates the construct id.
func New(scope constructs.Construct, id string, p Props) *WarmStart {
	c := constructs.NewConstruct(scope, jsii.String(id))
	stack := awscdk.Stack_Of(c)
	w := &WarmStart{}
	w.Key = secure.NewKey(c, "Key", "Trailwatch warm start: its function's and state machine's logs")
	w.Key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchLogsUse"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("logs."+*stack.Region()+".amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]interface{}{
			"ArnLike": map[string]interface{}{
				"kms:EncryptionContext:aws:logs:arn": "arn:" + *stack.Partition() + ":logs:" + *stack.Region() + ":" + *stack.Account() + ":log-group:*",
			},
		},
	}), nil)

	env := map[string]string{
		"TABLE_NAME":       *p.State.Table.TableName(),
		"ARCHIVE_BUCKET":   p.Bucket,
		"CONFIG_PARAMETER": *p.Thresholds.Parameter.ParameterName(),
		"BATCH_SIZE":       strconv.Itoa(BatchSize),
		"STOP_RESERVE":     StopReserve,
		"LOG_LEVEL":        p.LogLevel,
	}
	for k, v := range p.IPRanges.DetectEnvironment() {
		if k != "AWS_IP_RANGES_FILE" { // detect's bundled copy; this function reads the bucket's
			env[k] = v
		}
	}
	w.Function = lambdafn.New(c, "Function", lambdafn.Props{
		Description:      "Trailwatch backfill: warms one account's baselines from the CloudTrail archive (run by the warm start state machine)",
		CodeDir:          p.CodeDir,
		Environment:      env,
		LogRetentionDays: p.LogRetentionDays,
		Timeout:          awscdk.Duration_Minutes(jsii.Number(TimeoutMinutes)),
		MemoryMB:         MemoryMB,
		LogKey:           w.Key,
	})
	grantArchive(w.Function.Role, stack, p.Bucket, p.KeyARN)
	grantTable(w.Function.Role, p.State)
	p.Thresholds.GrantRead(w.Function.Role)
	p.IPRanges.GrantRead(w.Function.Role)

	w.StateMachine, w.LogGroup = newStateMachine(c, w, p)
	return w
}

// grantArchive lets the function list the bucket and read its CloudTrail
// files, and decrypt them through S3.
func grantArchive(role awsiam.IRole, stack awscdk.Stack, bucket, keyARN string) {
	arn := "arn:" + *stack.Partition() + ":s3:::" + bucket
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("ListTheArchive"),
		Actions:   jsii.Strings("s3:ListBucket"),
		Resources: jsii.Strings(arn),
	}))
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("ReadTheArchive"),
		Actions:   jsii.Strings("s3:GetObject"),
		Resources: jsii.Strings(arn + "/AWSLogs/*"),
	}))
	secure.Suppress(role, true, secure.Rule{
		ID: "AwsSolutions-IAM5",
		Reason: "The warm start reads every CloudTrail file of the organization trail's archive, whose keys (AWSLogs/<org>/<account>/CloudTrail/<region>/<date>/…) " +
			"are not known at deployment: s3:GetObject only, on the AWSLogs/ keys of that one bucket.",
		AppliesTo: []string{"Resource::arn:<AWS::Partition>:s3:::" + bucket + "/AWSLogs/*"},
	})
	if keyARN == "" {
		return
	}
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("DecryptTheArchive"),
		Actions:   jsii.Strings("kms:Decrypt"),
		Resources: jsii.Strings(keyARN),
		Conditions: &map[string]interface{}{
			"StringEquals": map[string]interface{}{"kms:ViaService": "s3." + *stack.Region() + ".amazonaws.com"},
		},
	}))
}

// grantTable gives the TableActions on the table, and the KMS actions
// DynamoDB needs on its key, only through DynamoDB.
func grantTable(role awsiam.IRole, s *state.State) {
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("BaselinesTableItems"),
		Actions:   jsii.Strings(TableActions...),
		Resources: jsii.Strings(*s.Table.TableArn()),
	}))
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("BaselinesTableKey"),
		Actions:   jsii.Strings("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"),
		Resources: jsii.Strings(*s.Key.KeyArn()),
		Conditions: &map[string]interface{}{
			"StringEquals": map[string]interface{}{
				"kms:ViaService": "dynamodb." + *awscdk.Stack_Of(s.Table).Region() + ".amazonaws.com",
			},
		},
	}))
}

// invoke is a Task state invoking the function with payload, its answer's
// fields picked by selector into ResultPath, retried on Lambda's errors
// and on BackfillError. It is written out (rather than LambdaInvoke) so
// the state machine's role gets lambda:InvokeFunction on the function
// alone, not on its every version.
func invoke(scope constructs.Construct, id string, fn awscdkFunction, payload, selector map[string]interface{}, resultPath string) awsstepfunctions.CustomState {
	st := awsstepfunctions.NewCustomState(scope, jsii.String(id), &awsstepfunctions.CustomStateProps{
		StateJson: &map[string]interface{}{
			"Type":     "Task",
			"Resource": "arn:" + *awscdk.Stack_Of(scope).Partition() + ":states:::lambda:invoke",
			"Parameters": map[string]interface{}{
				"FunctionName": fn.arn,
				"Payload":      payload,
			},
			"ResultSelector": selector,
			"ResultPath":     resultPath,
		},
	})
	st.AddRetry(&awsstepfunctions.RetryProps{
		Errors:      jsii.Strings(LambdaServiceErrors...),
		Interval:    awscdk.Duration_Seconds(jsii.Number(2)),
		MaxAttempts: jsii.Number(6),
		BackoffRate: jsii.Number(2),
	})
	st.AddRetry(&awsstepfunctions.RetryProps{
		Errors:      jsii.Strings(FunctionErrors...),
		Interval:    awscdk.Duration_Seconds(jsii.Number(30)),
		MaxAttempts: jsii.Number(3),
		BackoffRate: jsii.Number(2),
	})
	return st
}

// awscdkFunction is what invoke needs of the function.
type awscdkFunction struct{ arn string }

// newStateMachine builds list accounts → Distributed Map over them → per
// account, invoke until done.
func newStateMachine(c constructs.Construct, w *WarmStart, p Props) (awsstepfunctions.StateMachine, awslogs.LogGroup) {
	stack := awscdk.Stack_Of(c)
	fn := awscdkFunction{arn: *w.Function.Function.FunctionArn()}
	list := invoke(c, "ListAccounts", fn,
		map[string]interface{}{"list_accounts": true, "bucket.$": "$.bucket", "prefix.$": "$.prefix"},
		map[string]interface{}{"accounts.$": "$.Payload.accounts"}, "$.list")

	backfill := invoke(c, "BackfillAccount", fn,
		map[string]interface{}{"bucket.$": "$.bucket", "prefix.$": "$.prefix", "account.$": "$.account", "since.$": "$.since", "until.$": "$.until"},
		map[string]interface{}{"done.$": "$.Payload.done", "applied.$": "$.Payload.applied", "applied_now.$": "$.Payload.applied_now", "files.$": "$.Payload.files"},
		"$.result")
	accountDone := awsstepfunctions.NewPass(c, jsii.String("AccountDone"), &awsstepfunctions.PassProps{
		Parameters: &map[string]interface{}{"account.$": "$.account", "applied.$": "$.result.applied"},
	})
	loop := awsstepfunctions.NewChoice(c, jsii.String("Done?"), &awsstepfunctions.ChoiceProps{
		Comment: jsii.String("An invocation stops before Lambda's timeout, after its checkpoint: invoke again until done."),
	}).
		When(awsstepfunctions.Condition_BooleanEquals(jsii.String("$.result.done"), jsii.Bool(true)), accountDone, nil).
		Otherwise(backfill)
	perAccount := backfill.Next(loop)

	accounts := awsstepfunctions.NewDistributedMap(c, jsii.String("Accounts"), &awsstepfunctions.DistributedMapProps{
		Comment:   jsii.String("One child execution per account of the archive, at most MaxConcurrency at a time"),
		ItemsPath: jsii.String("$.list.accounts"),
		ItemSelector: &map[string]interface{}{
			"bucket.$":  "$.bucket",
			"prefix.$":  "$$.Map.Item.Value.prefix",
			"account.$": "$$.Map.Item.Value.account",
			"since.$":   "$.since",
			"until.$":   "$.until",
		},
		MaxConcurrency:        jsii.Number(float64(p.MaxConcurrency)),
		ToleratedFailureCount: jsii.Number(float64(p.ToleratedFailures)),
		MapExecutionType:      awsstepfunctions.StateMachineType_STANDARD,
		ResultPath:            awsstepfunctions.JsonPath_DISCARD(),
	})
	accounts.ItemProcessor(perAccount, nil) // DISTRIBUTED, children of MapExecutionType

	retention, err := lambdafn.RetentionDays(p.LogRetentionDays)
	if err != nil {
		panic(err) // validated with the configuration
	}
	lg := awslogs.NewLogGroup(c, jsii.String("StateMachineLogs"), &awslogs.LogGroupProps{
		// The vendedlogs prefix keeps the log group's resource policy
		// small however many state machines log.
		LogGroupName:  jsii.String("/aws/vendedlogs/states/" + *awscdk.Names_UniqueResourceName(c, &awscdk.UniqueResourceNameOptions{MaxLength: jsii.Number(400)})),
		Retention:     retention,
		EncryptionKey: w.Key,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	sm := awsstepfunctions.NewStateMachine(c, jsii.String("StateMachine"), &awsstepfunctions.StateMachineProps{
		Comment:          jsii.String("Trailwatch warm start: backfill every account of the organization trail's archive"),
		DefinitionBody:   awsstepfunctions.DefinitionBody_FromChainable(list.Next(accounts)),
		StateMachineType: awsstepfunctions.StateMachineType_STANDARD,
		Logs: &awsstepfunctions.LogOptions{
			Destination:          lg,
			Level:                awsstepfunctions.LogLevel_ALL,
			IncludeExecutionData: jsii.Bool(true),
		},
		TracingEnabled: jsii.Bool(true),
		Timeout:        awscdk.Duration_Days(jsii.Number(7)),
	})
	sm.Role().AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("InvokeTheBackfillFunction"),
		Actions:   jsii.Strings("lambda:InvokeFunction"),
		Resources: jsii.Strings(fn.arn),
	}))
	secure.Suppress(sm.Role(), true, secure.Rule{
		ID: "AwsSolutions-IAM5",
		Reason: "Step Functions needs these on Resource * for its own logging and tracing: the CloudWatch Logs delivery APIs and X-Ray's " +
			"PutTraceSegments/PutTelemetryRecords/GetSampling* have no resource-level permissions.",
		AppliesTo: []string{"Resource::*"},
	})
	executions := `arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"` +
		*stack.GetLogicalId(sm.Node().DefaultChild().(awscdk.CfnElement)) + `"}]}]}`
	secure.Suppress(sm, true, secure.Rule{
		ID: "AwsSolutions-IAM5",
		Reason: "The Distributed Map describes and stops its own child executions, whose names Step Functions generates: " +
			"only executions of this state machine (execution:<its name>:*).",
		AppliesTo: []string{"Resource::" + executions + ":*", "Resource::" + executions + "/*:*"},
	})
	return sm, lg
}
