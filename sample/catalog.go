package sample

import (
	"fmt"
	"strings"
)

// api is one CloudTrail event name and what CloudTrail records about it.
type api struct {
	svc      string // eventSource prefix: "ec2" for ec2.amazonaws.com
	name     string
	readOnly bool
	data     bool // a data event (eventCategory "Data")
}

func (a api) source() string { return a.svc + ".amazonaws.com" }

// catalog lists every API the generator emits, keyed "svc:Name".
var catalog = map[string]api{}

// apiList keeps catalog insertion order for deterministic iteration.
var apiList []string

func def(svc string, ro bool, names ...string) {
	for _, n := range names {
		k := svc + ":" + n
		catalog[k] = api{svc: svc, name: n, readOnly: ro}
		apiList = append(apiList, k)
	}
}

func defData(svc string, ro bool, names ...string) {
	for _, n := range names {
		k := svc + ":" + n
		catalog[k] = api{svc: svc, name: n, readOnly: ro, data: true}
		apiList = append(apiList, k)
	}
}

func init() {
	def("ec2", true, "DescribeInstances", "DescribeSecurityGroups", "DescribeVpcs", "DescribeSubnets",
		"DescribeVolumes", "DescribeSnapshots", "DescribeImages", "DescribeInstanceStatus",
		"DescribeNetworkInterfaces", "DescribeRouteTables", "DescribeLaunchTemplates", "DescribeAddresses",
		"DescribeKeyPairs", "DescribeAvailabilityZones", "DescribeTags")
	def("ec2", false, "RunInstances", "StartInstances", "StopInstances", "TerminateInstances", "CreateTags",
		"CreateSnapshot", "DeleteSnapshot", "CreateSecurityGroup", "AuthorizeSecurityGroupIngress",
		"RevokeSecurityGroupIngress", "ModifySnapshotAttribute", "CreateLaunchTemplateVersion",
		"ModifyInstanceAttribute", "CreateVolume", "AttachVolume")
	def("iam", true, "ListUsers", "ListRoles", "GetRole", "GetUser", "ListPolicies", "GetPolicy",
		"GetPolicyVersion", "ListAttachedRolePolicies", "ListRolePolicies", "GetRolePolicy", "ListAccessKeys",
		"GetAccountSummary", "ListMFADevices", "ListGroups", "ListInstanceProfiles", "ListAttachedUserPolicies",
		"GetAccountPasswordPolicy", "ListOpenIDConnectProviders")
	def("iam", false, "CreateUser", "AttachUserPolicy", "CreateAccessKey", "CreateLoginProfile", "CreateRole",
		"PutRolePolicy", "AttachRolePolicy", "UpdateAssumeRolePolicy", "TagRole", "DeleteAccessKey",
		"UpdateAccessKey", "CreatePolicyVersion", "DetachRolePolicy", "DeleteRolePolicy")
	def("s3", true, "ListBuckets", "GetBucketPolicy", "GetBucketAcl", "GetBucketLocation", "GetBucketVersioning",
		"GetBucketTagging", "GetBucketEncryption", "GetBucketPublicAccessBlock", "GetBucketLogging",
		"GetBucketLifecycle", "GetBucketOwnershipControls")
	def("s3", false, "PutBucketPolicy", "PutBucketPublicAccessBlock", "PutBucketTagging", "PutBucketVersioning",
		"CreateBucket", "PutBucketAcl", "PutBucketEncryption", "PutBucketLifecycle")
	defData("s3", false, "PutObject")
	defData("s3", true, "GetObject")
	def("cloudtrail", true, "DescribeTrails", "GetTrailStatus", "LookupEvents", "GetEventSelectors", "ListTrails")
	def("cloudtrail", false, "StopLogging", "DeleteTrail", "StartLogging", "UpdateTrail")
	def("guardduty", true, "ListDetectors", "GetDetector", "ListFindings", "GetFindings")
	def("guardduty", false, "DeleteDetector", "ArchiveFindings")
	def("kms", true, "Decrypt", "GenerateDataKey", "DescribeKey", "ListAliases", "ListKeys", "Encrypt", "GetKeyPolicy")
	def("kms", false, "CreateGrant", "ScheduleKeyDeletion", "PutKeyPolicy", "RotateKey")
	def("sts", true, "GetCallerIdentity", "AssumeRole", "AssumeRoleWithWebIdentity", "GetSessionToken")
	def("dynamodb", true, "DescribeTable", "ListTables", "DescribeContinuousBackups", "DescribeTimeToLive")
	def("dynamodb", false, "UpdateTable", "UpdateTimeToLive", "CreateTable")
	defData("dynamodb", false, "PutItem", "UpdateItem")
	defData("dynamodb", true, "GetItem", "Query")
	def("sqs", true, "ListQueues", "GetQueueAttributes")
	def("sqs", false, "SetQueueAttributes", "CreateQueue")
	defData("sqs", false, "SendMessage")
	def("lambda", true, "ListFunctions20150331", "GetFunction20150331v2", "GetFunctionConfiguration20150331v2",
		"ListEventSourceMappings20150331", "GetPolicy20150331v2")
	def("lambda", false, "UpdateFunctionCode20150331v2", "UpdateFunctionConfiguration20150331v2",
		"CreateFunction20150331", "AddPermission20150331v2", "PublishVersion20150331")
	def("logs", true, "DescribeLogGroups", "FilterLogEvents", "GetLogEvents", "DescribeLogStreams", "StartQuery")
	def("logs", false, "CreateLogGroup", "PutRetentionPolicy")
	def("cloudformation", true, "DescribeStacks", "ListStacks", "GetTemplate", "DescribeStackEvents",
		"DescribeChangeSet", "DescribeStackResources")
	def("cloudformation", false, "CreateStack", "UpdateStack", "CreateChangeSet", "ExecuteChangeSet")
	def("ssm", true, "GetParameter", "GetParameters", "GetParametersByPath", "DescribeParameters",
		"DescribeInstanceInformation")
	def("ssm", false, "PutParameter", "StartSession")
	def("secretsmanager", true, "GetSecretValue", "ListSecrets", "DescribeSecret")
	def("secretsmanager", false, "PutSecretValue")
	def("rds", true, "DescribeDBInstances", "DescribeDBSnapshots", "DescribeDBClusters", "DescribeDBParameterGroups")
	def("rds", false, "CreateDBSnapshot", "ModifyDBSnapshotAttribute", "ModifyDBInstance", "RebootDBInstance")
	def("ecs", true, "DescribeServices", "ListTasks", "DescribeTasks", "ListClusters", "DescribeClusters",
		"DescribeTaskDefinition")
	def("ecs", false, "UpdateService", "RegisterTaskDefinition")
	def("elasticloadbalancing", true, "DescribeLoadBalancers", "DescribeTargetGroups", "DescribeTargetHealth",
		"DescribeListeners")
	def("elasticloadbalancing", false, "ModifyTargetGroupAttributes", "RegisterTargets")
	def("monitoring", true, "DescribeAlarms", "GetMetricData", "ListMetrics", "GetMetricStatistics")
	def("monitoring", false, "PutMetricAlarm")
	def("route53", true, "ListHostedZones", "ListResourceRecordSets", "GetHostedZone")
	def("route53", false, "ChangeResourceRecordSets")
	def("sns", true, "ListTopics", "GetTopicAttributes", "ListSubscriptionsByTopic")
	def("sns", false, "SetTopicAttributes")
	def("autoscaling", true, "DescribeAutoScalingGroups", "DescribeScalingActivities")
	def("autoscaling", false, "UpdateAutoScalingGroup", "SetDesiredCapacity")
	def("ecr", true, "GetAuthorizationToken", "DescribeRepositories", "DescribeImages", "BatchCheckLayerAvailability")
	def("ecr", false, "PutImage", "InitiateLayerUpload")
	def("signin", false, "ConsoleLogin")
}

func mustAPI(key string) api {
	a, ok := catalog[key]
	if !ok {
		panic("sample: unknown api " + key)
	}
	return a
}

// cliService is the aws-cli service name for an eventSource prefix.
func cliService(svc string) string {
	switch svc {
	case "s3":
		return "s3api"
	case "elasticloadbalancing":
		return "elbv2"
	case "monitoring":
		return "cloudwatch"
	}
	return svc
}

// sdkService is the SDK api/ identifier for an eventSource prefix.
func sdkService(svc string) string {
	switch svc {
	case "elasticloadbalancing":
		return "elasticloadbalancingv2"
	case "monitoring":
		return "cloudwatch"
	}
	return svc
}

// cliCommand turns an API into the aws-cli md/command value, e.g.
// iam.create-user.
func cliCommand(a api) string {
	n := a.name
	if i := strings.Index(n, "2015"); i > 0 {
		n = n[:i]
	}
	var b strings.Builder
	for i := 0; i < len(n); i++ {
		c := n[i]
		up := c >= 'A' && c <= 'Z'
		if up && i > 0 {
			prev := n[i-1]
			prevLower := prev >= 'a' && prev <= 'z' || prev >= '0' && prev <= '9'
			nextLower := i+1 < len(n) && n[i+1] >= 'a' && n[i+1] <= 'z'
			if prevLower || nextLower {
				b.WriteByte('-')
			}
		}
		if up {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return cliService(a.svc) + "." + b.String()
}

// globalService reports services whose events CloudTrail records in us-east-1.
func globalService(svc string) bool {
	switch svc {
	case "iam", "route53", "signin":
		return true
	}
	return false
}

// hostHeader is the tlsDetails clientProvidedHostHeader for a call.
func hostHeader(a api, region string) string {
	switch a.svc {
	case "iam", "route53":
		return a.svc + ".amazonaws.com"
	case "signin":
		return "signin.aws.amazon.com"
	case "sts":
		return "sts." + region + ".amazonaws.com"
	case "s3":
		return "s3." + region + ".amazonaws.com"
	case "elasticloadbalancing":
		return "elasticloadbalancing." + region + ".amazonaws.com"
	}
	return fmt.Sprintf("%s.%s.amazonaws.com", a.svc, region)
}

// xmlProtocol reports services whose denied calls say "AccessDenied"
// rather than "AccessDeniedException".
func xmlProtocol(svc string) bool {
	switch svc {
	case "iam", "sts", "s3", "rds", "sns", "sqs", "cloudformation", "autoscaling", "elasticloadbalancing",
		"monitoring", "route53", "signin":
		return true
	}
	return false
}
